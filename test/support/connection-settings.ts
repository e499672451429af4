import { parseConnectionUrl } from '../../src/config/connection-url.js';
import type { ConnectionSettings } from '../../src/config/settings.js';

/** The connection settings a test's URL stands for, as `migrate()` takes them. */
export const settingsFor = (url: string): ConnectionSettings => parseConnectionUrl(url, 'TEST_DATABASE_URL');
