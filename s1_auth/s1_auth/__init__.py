"""S1 auth: accounts, password login with a throttle, JWTs and roles."""
