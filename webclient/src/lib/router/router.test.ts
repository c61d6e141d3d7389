import { afterEach, describe, expect, it } from 'vitest';

import { compile, matchPath, Router } from './router.svelte';

describe('matchPath', () => {
  it('gives the decoded params of a matching path', () => {
    expect(matchPath(compile('/tickets/:id'), '/tickets/12')).toEqual({ id: '12' });
    expect(matchPath(compile('/users/:name'), '/users/a%20b')).toEqual({ name: 'a b' });
    expect(matchPath(compile('/tickets/:id'), '/tickets/12/more')).toBeNull();
  });
});

describe('Router', () => {
  let stop = () => {};
  afterEach(() => {
    stop();
    window.history.replaceState(null, '', '/');
    document.body.innerHTML = '';
  });

  it('follows navigate(), the query, and the back button', async () => {
    const router = new Router(window);
    stop = router.start();
    router.navigate('/tickets?status=new');
    expect(router.path).toBe('/tickets');
    expect(router.query.get('status')).toBe('new');
    const visits = router.visits;

    router.setQuery({ status: undefined, q: 'login crash' });
    expect(window.location.search).toBe('?q=login+crash');
    expect(router.visits).toBe(visits); // same screen, other filters

    router.navigate('/tickets/4');
    expect(router.visits).toBe(visits + 1);
    window.history.back();
    await new Promise((resolve) => window.addEventListener('popstate', resolve, { once: true }));
    expect(router.path).toBe('/tickets');
  });

  it('keeps plain links in the page, and leaves the others to the browser', () => {
    const router = new Router(window);
    stop = router.start();
    document.body.innerHTML = `
      <a id="inside" href="/tickets/7"><span>open</span></a>
      <a id="new-tab" href="/tickets/8" target="_blank">tab</a>
      <a id="skip" href="#main">skip</a>`;

    const inside = new MouseEvent('click', { bubbles: true, cancelable: true, button: 0 });
    document.querySelector('#inside span')!.dispatchEvent(inside);
    expect(inside.defaultPrevented).toBe(true);
    expect(router.path).toBe('/tickets/7');

    // The ones left to the browser: was the default still on when the click reached the window?
    const leftToBrowser = (selector: string, init: MouseEventInit = {}): boolean => {
      let left = false;
      const seen = (event: Event) => {
        left = !event.defaultPrevented;
        event.preventDefault(); // jsdom cannot open documents
      };
      window.addEventListener('click', seen, { once: true });
      const click = new MouseEvent('click', { bubbles: true, cancelable: true, ...init });
      document.querySelector(selector)!.dispatchEvent(click);
      return left;
    };
    expect(leftToBrowser('#inside', { ctrlKey: true })).toBe(true);
    expect(leftToBrowser('#new-tab')).toBe(true);
    expect(leftToBrowser('#skip')).toBe(true);
    expect(router.path).toBe('/tickets/7');
  });
});
