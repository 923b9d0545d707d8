// File formats and file writing: atomic writes, safetensors.
export { writeFileAtomic } from './atomic.js';
export { findDuplicateKey, type DuplicateKey } from './json-keys.js';
export * from './safetensors-raw.js';
export * from './safetensors.js';
