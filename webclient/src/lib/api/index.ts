/**
 * The API, one section per service, all on one client (base URL from configuration, the
 * session's token, errors as sentences). Components import `api` and nothing else from here.
 */

import { apiBaseUrl } from '../config';
import { analyticsApi } from './analytics';
import { authApi } from './auth';
import { ApiClient } from './client';
import { feedbackApi } from './feedback';
import { mediaApi } from './media';
import { notificationsApi } from './notifications';
import { ticketsApi } from './tickets';
import { workflowApi } from './workflow';

export const client = new ApiClient(apiBaseUrl());

export const api = {
  auth: authApi(client),
  tickets: ticketsApi(client),
  workflow: workflowApi(client),
  media: mediaApi(client),
  notifications: notificationsApi(client),
  feedback: feedbackApi(client),
  analytics: analyticsApi(client),
};

export { ApiError, errorMessage, isAbort, type Download } from './client';
export type * from './types';
