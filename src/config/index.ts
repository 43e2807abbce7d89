export { configSchema, type Config } from './schema.js';
export { ConfigError, loadConfig, userConfigPath, type LoadOptions } from './load.js';
