// @vitest-environment node
import { describe, expect, it } from 'vitest';

import { ADMIN, CUSTOMER, STAFF } from './test/fake-api';
import { decide, resolve, safeNext } from './routes';

describe('the route table', () => {
  it('matches paths to screens, with their params', () => {
    expect(resolve('/tickets/new')?.route.title).toBe('New ticket');
    expect(resolve('/tickets/42')?.params).toEqual({ id: '42' });
    expect(resolve('/nowhere')).toBeNull();
  });
});

describe('decide', () => {
  it('sends a signed-out visit to the login page, keeping where it was going', () => {
    expect(decide('/tickets/42', '?x=1', null)).toEqual({
      kind: 'redirect',
      to: '/login?next=%2Ftickets%2F42%3Fx%3D1',
    });
    expect(decide('/', '', null)).toEqual({ kind: 'redirect', to: '/login' });
  });

  it('sends a signed-in visit to a guest page on to its next page', () => {
    expect(decide('/login', '?next=%2Ftickets%2F9', CUSTOMER)).toEqual({
      kind: 'redirect',
      to: '/tickets/9',
    });
    expect(decide('/register', '', CUSTOMER)).toEqual({ kind: 'redirect', to: '/tickets' });
  });

  it('lets only admins open the users page', () => {
    expect(decide('/admin/users', '', CUSTOMER).kind).toBe('forbidden');
    expect(decide('/admin/users', '', STAFF).kind).toBe('forbidden');
    expect(decide('/admin/users', '', ADMIN).kind).toBe('render');
    expect(decide('/nowhere', '', ADMIN).kind).toBe('not-found');
  });
});

describe('safeNext', () => {
  it('follows only paths of this site', () => {
    const next = (value: string) => safeNext(new URLSearchParams({ next: value }));
    expect(next('/tickets?status=new')).toBe('/tickets?status=new');
    expect(next('https://evil.example')).toBe('/tickets');
    expect(next('//evil.example/x')).toBe('/tickets');
    expect(next('/\\evil.example')).toBe('/tickets');
    expect(next('/login?next=/x')).toBe('/tickets');
    expect(safeNext(new URLSearchParams())).toBe('/tickets');
  });
});
