// The web page (index.html): pick or drop an image, run a ladet detector on it with the chosen backend
// (backends.mts), draw the boxes with class names and scores, show the time per image. A dropped or picked
// .safetensors / .onnx file replaces that backend's model (by default the demo teacher that `npm run web` exports
// into /models/). The page's last result is published as window.ladetWeb (unrounded detections, time, error) for
// test/examples/web.test.ts, which checks it against `ladet predict` in headless Chromium.
import type { RuntimeDetection, RuntimeSpec } from 'ladet/runtime';
import { BACKEND_LABELS, onnxBackend, runtimeBackend, type Backend, type BackendName } from './backends.mjs';

/** What the page shows, for scripts and tests: `seq` counts finished runs (done or error). */
export interface PageState {
  seq: number;
  state: 'idle' | 'loading' | 'running' | 'done' | 'error';
  backend: BackendName;
  model: string | null;
  image: { name: string; width: number; height: number } | null;
  scoreThr: number;
  detections: RuntimeDetection[];
  /** the detect call (prepare + network + post-processing) of the last run, in milliseconds */
  ms: number | null;
  error: string | null;
}

declare global {
  interface Window {
    ladetWeb: PageState;
  }
}

const DEFAULT_MODELS: Readonly<Record<BackendName, string>> = {
  runtime: '/models/demo_teacher_r18w50.safetensors',
  onnx: '/models/demo_teacher_r18w50.onnx',
};
const SAMPLE = '/sample.png';
/** onnxruntime-web's .wasm / .mjs files (serve.mjs maps /ort/ to node_modules/onnxruntime-web/dist/) */
const ORT_FILES = '/ort/';
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#0aa6b8', '#f032e6', '#7a9c00', '#c9a000'];

const el = <T extends HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`index.html has no #${id}`);
  return e as T;
};
const backendSelect = el<HTMLSelectElement>('backend');
const imageInput = el<HTMLInputElement>('image-file');
const modelInput = el<HTMLInputElement>('model-file');
const thrInput = el<HTMLInputElement>('thr');
const sampleButton = el<HTMLButtonElement>('sample');
const defaultModelButton = el<HTMLButtonElement>('default-model');
const timeButton = el<HTMLButtonElement>('time');
const modelLine = el<HTMLElement>('model');
const statusLine = el<HTMLElement>('status');
const errorLine = el<HTMLElement>('error');
const canvas = el<HTMLCanvasElement>('canvas');
const table = el<HTMLTableSectionElement>('detections');
const dropZone = el<HTMLElement>('drop');

window.ladetWeb = {
  seq: 0,
  state: 'idle',
  backend: backendSelect.value as BackendName,
  model: null,
  image: null,
  scoreThr: Number(thrInput.value),
  detections: [],
  ms: null,
  error: null,
};
const publish = (s: Partial<PageState>): void => {
  window.ladetWeb = { ...window.ladetWeb, ...s };
};

// ---- models ---------------------------------------------------------------------------------------------------
type Source = { url: string } | { file: File };
const sources: Record<BackendName, Source> = {
  runtime: { url: DEFAULT_MODELS.runtime },
  onnx: { url: DEFAULT_MODELS.onnx },
};
const loaded = new Map<BackendName, Promise<Backend>>();
type Ort = typeof import('onnxruntime-web/wasm');
let ortModule: Promise<Ort> | null = null;

const sourceName = (s: Source): string => ('file' in s ? s.file.name : s.url);

async function modelBytes(s: Source): Promise<Uint8Array> {
  if ('file' in s) return new Uint8Array(await s.file.arrayBuffer());
  let res: Response;
  try {
    res = await fetch(s.url);
  } catch (e) {
    throw new Error(`cannot fetch ${s.url} (${(e as Error).message}): is the server (npm run web) still running?`, {
      cause: e,
    });
  }
  if (!res.ok)
    throw new Error(
      `no model at ${s.url} (HTTP ${res.status}): \`npm run web\` exports the demo's models into examples/web/models/; ` +
        'or open a model file (.safetensors for ladet/runtime, .onnx for onnxruntime-web)',
    );
  return new Uint8Array(await res.arrayBuffer());
}

function loadOrt(): Promise<Ort> {
  ortModule ??= import('onnxruntime-web/wasm').then((ort) => {
    ort.env.wasm.wasmPaths = ORT_FILES;
    return ort;
  });
  return ortModule;
}

function backend(name: BackendName): Promise<Backend> {
  let b = loaded.get(name);
  if (!b) {
    const s = sources[name];
    b = modelBytes(s).then(async (bytes) =>
      name === 'runtime' ? runtimeBackend(bytes, sourceName(s)) : onnxBackend(loadOrt, bytes, sourceName(s)),
    );
    const mine = b;
    // a failed load is retried on the next run (unless another model replaced it meanwhile)
    mine.catch(() => loaded.get(name) === mine && loaded.delete(name));
    loaded.set(name, b);
  }
  return b;
}

function setModel(name: BackendName, s: Source): void {
  const old = loaded.get(name);
  loaded.delete(name);
  sources[name] = s;
  old?.then((b) => b.release()).catch(() => undefined);
}

// ---- images ---------------------------------------------------------------------------------------------------
interface LoadedImage {
  name: string;
  bitmap: ImageBitmap;
  pixels: ImageData;
}
let image: LoadedImage | null = null;

/** Decoded as ladet decodes: the file's own pixel values (no colour management), EXIF orientation applied. */
async function readImage(blob: Blob, name: string): Promise<LoadedImage> {
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, {
      colorSpaceConversion: 'none',
      premultiplyAlpha: 'none',
      imageOrientation: 'from-image',
    });
  } catch {
    throw new Error(
      `${name}: not an image this browser can decode (PNG, JPEG, WebP, GIF, BMP, AVIF); ` +
        'a model file must end in .safetensors (ladet/runtime) or .onnx (onnxruntime-web)',
    );
  }
  const c = document.createElement('canvas');
  c.width = bitmap.width;
  c.height = bitmap.height;
  const ctx = c.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('this browser gives no 2D canvas');
  ctx.drawImage(bitmap, 0, 0);
  return { name, bitmap, pixels: ctx.getImageData(0, 0, bitmap.width, bitmap.height) };
}

// ---- running --------------------------------------------------------------------------------------------------
let queue: Promise<void> = Promise.resolve();
/** Runs are serialised: a change while one runs starts another after it. */
const schedule = (): void => {
  queue = queue.then(run);
};

function showError(message: string | null): void {
  errorLine.hidden = message === null;
  errorLine.textContent = message ?? '';
}

async function run(): Promise<void> {
  const name = backendSelect.value as BackendName;
  const scoreThr = Number(thrInput.value);
  const img = image;
  if (!img) return;
  publish({ state: 'loading', backend: name, model: sourceName(sources[name]), scoreThr });
  statusLine.textContent = `loading ${sourceName(sources[name])} on ${BACKEND_LABELS[name]}…`;
  modelLine.textContent = `Model: ${sourceName(sources[name])} on ${BACKEND_LABELS[name]}`;
  timeButton.disabled = true;
  try {
    if (!(scoreThr >= 0 && scoreThr <= 1))
      throw new Error(`the score threshold must be in [0, 1] (got ${thrInput.value})`);
    const b = await backend(name);
    describeModel(b);
    publish({ state: 'running' });
    statusLine.textContent = `running ${BACKEND_LABELS[name]}…`;
    const t0 = performance.now();
    const detections = await b.detect(pixelsOf(img), scoreThr);
    const ms = performance.now() - t0;
    draw(img, detections, b.spec);
    fillTable(detections);
    showError(null);
    statusLine.textContent =
      `${img.name} (${img.pixels.width}x${img.pixels.height}): ${detections.length} detections with score ≥ ${scoreThr} ` +
      `in ${ms.toFixed(1)} ms on ${BACKEND_LABELS[name]}`;
    timeButton.disabled = false;
    publish({ state: 'done', detections, ms, error: null, seq: window.ladetWeb.seq + 1 });
  } catch (e) {
    const message = (e as Error).message;
    showError(message);
    statusLine.textContent = '';
    // no stale boxes from another backend or model under the error
    draw(img, [], null);
    fillTable([]);
    publish({ state: 'error', detections: [], ms: null, error: message, seq: window.ladetWeb.seq + 1 });
  }
}

const pixelsOf = (img: LoadedImage) => ({
  data: img.pixels.data,
  width: img.pixels.width,
  height: img.pixels.height,
  channels: 4 as const,
});

function describeModel(b: Backend): void {
  const s = b.spec;
  modelLine.textContent =
    `Model: ${b.model} on ${BACKEND_LABELS[b.name]}: ${s.classes.length} classes, ` +
    `test scale ${s.input.testScale.join('x')}, size divisor ${s.input.sizeDivisor}`;
}

/** The median time of 10 detect calls on the current image (after the runs so far warmed the backend up). */
async function timeRuns(): Promise<void> {
  const img = image;
  if (!img) return;
  const name = backendSelect.value as BackendName;
  const b = await backend(name);
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    await b.detect(pixelsOf(img), Number(thrInput.value));
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const median = ((times[4] as number) + (times[5] as number)) / 2;
  statusLine.textContent =
    `${img.name} (${img.pixels.width}x${img.pixels.height}) on ${BACKEND_LABELS[name]}: ` +
    `${median.toFixed(1)} ms per image (median of 10 runs; fastest ${(times[0] as number).toFixed(1)} ms)`;
}

// ---- drawing --------------------------------------------------------------------------------------------------
function draw(img: LoadedImage, detections: readonly RuntimeDetection[], spec: RuntimeSpec | null): void {
  const { width, height } = img.pixels;
  const long = Math.max(width, height);
  // small images (the demo's are 160 px) drawn larger so the labels stay readable; large ones fit the page
  const s = Math.min(760 / long, Math.max(1, 480 / long));
  canvas.width = Math.round(width * s);
  canvas.height = Math.round(height * s);
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  ctx.imageSmoothingEnabled = s < 1;
  ctx.drawImage(img.bitmap, 0, 0, canvas.width, canvas.height);
  ctx.font = '13px system-ui, sans-serif';
  ctx.lineWidth = 2;
  const index = new Map((spec?.classes ?? []).map((c, i) => [c.id, i]));
  // the best last, so it is drawn on top
  for (const d of [...detections].reverse()) {
    const colour = PALETTE[(index.get(d.category_id) ?? 0) % PALETTE.length] as string;
    const [x1, y1, x2, y2] = d.box.map((v) => v * s) as [number, number, number, number];
    ctx.strokeStyle = colour;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const text = `${d.label} ${d.score.toFixed(2)}`;
    const tw = ctx.measureText(text).width + 6;
    const ty = y1 >= 17 ? y1 - 17 : y1;
    ctx.fillStyle = colour;
    ctx.fillRect(x1, ty, tw, 17);
    ctx.fillStyle = '#fff';
    ctx.fillText(text, x1 + 3, ty + 13);
  }
}

function fillTable(detections: readonly RuntimeDetection[]): void {
  table.replaceChildren(
    ...detections.map((d, i) => {
      const tr = document.createElement('tr');
      for (const v of [String(i + 1), d.label, d.score.toFixed(4), d.box.map((x) => x.toFixed(2)).join(', ')]) {
        const td = document.createElement('td');
        td.textContent = v;
        tr.append(td);
      }
      return tr;
    }),
  );
}

// ---- inputs ---------------------------------------------------------------------------------------------------
/** An image is detected on; a .safetensors / .onnx file becomes its backend's model (and the chosen backend). */
async function open(file: File): Promise<void> {
  const lower = file.name.toLowerCase();
  const kind: BackendName | null = lower.endsWith('.onnx') ? 'onnx' : lower.endsWith('.safetensors') ? 'runtime' : null;
  if (kind) {
    setModel(kind, { file });
    backendSelect.value = kind;
  } else {
    try {
      image = await readImage(file, file.name);
    } catch (e) {
      showError((e as Error).message);
      publish({ state: 'error', error: (e as Error).message, seq: window.ladetWeb.seq + 1 });
      return;
    }
    publish({ image: { name: image.name, width: image.pixels.width, height: image.pixels.height } });
  }
  schedule();
}

async function openSample(): Promise<void> {
  try {
    const res = await fetch(SAMPLE);
    if (!res.ok) throw new Error(`no sample image at ${SAMPLE} (HTTP ${res.status})`);
    await open(new File([await res.blob()], 'sample.png', { type: 'image/png' }));
  } catch (e) {
    showError((e as Error).message);
  }
}

imageInput.addEventListener('change', () => {
  const f = imageInput.files?.[0];
  if (f) void open(f);
  imageInput.value = '';
});
modelInput.addEventListener('change', () => {
  const f = modelInput.files?.[0];
  if (f) void open(f);
  modelInput.value = '';
});
backendSelect.addEventListener('change', schedule);
thrInput.addEventListener('change', schedule);
sampleButton.addEventListener('click', () => void openSample());
defaultModelButton.addEventListener('click', () => {
  const name = backendSelect.value as BackendName;
  setModel(name, { url: DEFAULT_MODELS[name] });
  schedule();
});
timeButton.addEventListener('click', () => {
  queue = queue.then(timeRuns).catch((e: Error) => showError(e.message));
});
window.addEventListener('dragover', (e) => {
  e.preventDefault();
  dropZone.classList.add('over');
});
window.addEventListener('dragleave', () => dropZone.classList.remove('over'));
window.addEventListener('drop', (e) => {
  e.preventDefault();
  dropZone.classList.remove('over');
  // models first, so an image dropped with its model runs on it
  const files = [...(e.dataTransfer?.files ?? [])].sort(
    (a, b) => Number(/\.(onnx|safetensors)$/i.test(b.name)) - Number(/\.(onnx|safetensors)$/i.test(a.name)),
  );
  for (const f of files) void open(f);
});

void openSample();
