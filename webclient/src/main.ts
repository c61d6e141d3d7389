import './app.css';

import { mount } from 'svelte';

import App from './App.svelte';
import { router } from './lib/router/router.svelte';
import { session } from './lib/session/session.svelte';

session.restore();
router.start();
window.addEventListener('storage', (event) => session.onStorage(event));

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

export default mount(App, { target });
