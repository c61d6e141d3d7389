from helpdesk_fleet.supervisor import main

main()
