// Runtime configuration of the web client. The servers that serve the built files replace it
// (make up: helpdesk_fleet.webclient; Docker: nginx, from API_BASE_URL), so one build runs
// against any gateway. Left empty here: `npm run dev` then uses VITE_API_BASE_URL, or
// http://localhost:8080.
window.__HELPDESK_CONFIG__ = {};
