// A tiny static server for the web page (examples/web/): node:http only, GET and HEAD, five folders mapped to URL
// prefixes and nothing else of the repository served (no directory listing; `..`, encoded slashes and symbolic
// links out of a folder are refused), correct MIME types (.mjs / .js as JavaScript, .wasm as application/wasm, which
// WebAssembly.instantiateStreaming requires). Cross-origin isolation headers let onnxruntime-web use its threads.
//   node examples/web/serve.mjs [--port 8080] [--host 127.0.0.1] [--models DIR]
// --port 0 takes a free port. The first line printed is the page's URL.
import { createServer } from 'node:http';
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));

const USAGE = 'usage: node examples/web/serve.mjs [--port 8080] [--host 127.0.0.1] [--models DIR]';

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
  '.ico': 'image/x-icon',
  '.onnx': 'application/octet-stream',
  '.safetensors': 'application/octet-stream',
};

/** The options of the command line; throws a usage error on anything else. */
export function parseArgs(argv) {
  const opts = { port: 8080, host: '127.0.0.1', models: join(repo, 'examples', 'web', 'models') };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i].split('=', 2);
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`${flag} needs a value (${USAGE})`);
    if (flag === '--port') {
      opts.port = Number(value);
      if (!(Number.isInteger(opts.port) && opts.port >= 0 && opts.port < 65536))
        throw new Error(`--port must be a whole number in 0..65535 (got ${value})`);
    } else if (flag === '--host') opts.host = value;
    else if (flag === '--models') opts.models = resolve(value);
    else throw new Error(`unknown option ${flag} (${USAGE})`);
  }
  return opts;
}

/** URL prefix -> folder; the longest matching prefix wins. */
export function mounts(models) {
  return [
    ['/dist/src/', join(repo, 'dist', 'src')],
    ['/dist/examples/web/', join(repo, 'dist', 'examples', 'web')],
    ['/ort/', join(repo, 'node_modules', 'onnxruntime-web', 'dist')],
    ['/models/', models],
    ['/', join(repo, 'examples', 'web')],
  ];
}

/** The file a URL path names, or null (outside every folder, a folder itself, missing, or malformed). */
export function resolveFile(urlPath, table) {
  let path;
  try {
    path = decodeURIComponent(urlPath);
  } catch {
    return null;
  }
  if (path.includes('\0') || path.includes('\\')) return null;
  if (path === '/') path = '/index.html';
  const segments = path.split('/');
  if (segments.some((s) => s === '..' || s === '.')) return null;
  for (const [prefix, dir] of table) {
    if (!path.startsWith(prefix)) continue;
    const file = join(dir, path.slice(prefix.length));
    try {
      const real = realpathSync(file);
      const root = realpathSync(dir);
      if (!real.startsWith(root + sep) || !statSync(real).isFile()) return null;
      return real;
    } catch {
      return null;
    }
  }
  return null;
}

/** Starts serving; resolves to the server and its URL once it listens. */
export function serve(opts) {
  const table = mounts(opts.models);
  const server = createServer((req, res) => {
    const headers = {
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
      'Cache-Control': 'no-cache',
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end();
      return;
    }
    const url = new URL(req.url ?? '/', 'http://localhost');
    const file = resolveFile(url.pathname, table);
    if (file === null) {
      res
        .writeHead(404, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' })
        .end(`not found: ${url.pathname}\n`);
      return;
    }
    const type = MIME[extname(file).toLowerCase()] ?? 'application/octet-stream';
    res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': statSync(file).size });
    if (req.method === 'HEAD') res.end();
    else createReadStream(file).pipe(res);
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port, opts.host, () => {
      const { port } = server.address();
      const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
      ok({ server, url: `http://${host}:${port}/` });
    });
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`serve.mjs: ${e.message}`);
    process.exit(2);
  }
  serve(opts).then(
    ({ url }) => {
      console.log(url);
      console.log(`serving ladet's web page (models from ${opts.models}); Ctrl-C stops`);
    },
    (e) => {
      console.error(`serve.mjs: cannot listen on ${opts.host}:${opts.port}: ${e.message}`);
      process.exit(1);
    },
  );
}
