// @vitest-environment node
import { describe, expect, it } from 'vitest';

import { apiBaseUrl, DEFAULT_API_BASE_URL } from './config';

describe('apiBaseUrl', () => {
  it('prefers the runtime configuration, then the build-time variable, then the default', () => {
    expect(apiBaseUrl({ apiBaseUrl: 'https://api.example.com/' }, 'http://build')).toBe(
      'https://api.example.com',
    );
    expect(apiBaseUrl({}, 'http://build:8080//')).toBe('http://build:8080');
    expect(apiBaseUrl(undefined, undefined)).toBe(DEFAULT_API_BASE_URL);
  });
});
