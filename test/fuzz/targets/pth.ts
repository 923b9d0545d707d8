// Fuzz target: PyTorch .pth checkpoints through readPth and readPthStateDict (src/io/pth.ts). Bases: the torch-made
// fixtures of test/io/fixtures/pth/ (zip and legacy formats, views, an mmdetection-like checkpoint) and files ladet
// writes from generated tensors. Mutations: truncation, bit flips and byte overwrites / inserts / deletes of the
// whole file, or of the zip's data.pkl alone with the archive rebuilt around it (valid CRCs, so the corruption
// reaches the unpickler instead of stopping at the zip layer). Only a PthError naming the file, or a sane result.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import {
  SAFETENSORS_DTYPE_BYTES,
  pickleToPlain,
  readPth,
  readPthStateDict,
  serializePth,
  type RawTensor,
  type SafetensorsDtype,
} from '../../../src/io/index.js';
import { readZipDirectory, zipEntryData } from '../../../src/io/zip_read.js';
import { zipStored } from '../../../src/io/zip_write.js';
import { checkCall, preview, type FuzzTarget } from '../harness.js';
import { applyByteMutations, byteMutation, type ByteMutation } from '../mutate.js';

const fixtures = fileURLToPath(new URL('../../../../test/io/fixtures/pth/', import.meta.url));
const BASES = ['zip_dtypes.pth', 'legacy_dtypes.pth', 'zip_views.pth', 'legacy_views.pth', 'mmdet_like.pth'];

const DTYPES: SafetensorsDtype[] = ['F32', 'F16', 'BF16', 'F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'BOOL'];
const tensorArb: fc.Arbitrary<[string, RawTensor]> = fc
  .record({
    name: fc.oneof(fc.constantFrom('conv.weight', 'bn.num_batches_tracked', 'ü', ''), fc.string({ maxLength: 6 })),
    dtype: fc.constantFrom(...DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  })
  .chain((t) => {
    const n = t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    return fc
      .uint8Array({ minLength: n, maxLength: n })
      .map((data): [string, RawTensor] => [t.name, { dtype: t.dtype, shape: t.shape, data }]);
  });

interface Flip {
  at: number;
  bit: number;
}

interface Case {
  file: string;
  base: { fixture: string } | { tensors: [string, RawTensor][] };
  /** 'file': mutate the whole file; 'pickle': mutate data.pkl (zip bases) and rebuild the archive */
  where: 'file' | 'pickle';
  flips: readonly Flip[];
  bytes: readonly ByteMutation[];
}

const caseArb: fc.Arbitrary<Case> = fc.record({
  file: fc.constantFrom('w.pth', 'model final.pt', 'ünï [1].pth'),
  base: fc.oneof(
    { arbitrary: fc.constantFrom(...BASES).map((fixture) => ({ fixture })), weight: 3 },
    {
      arbitrary: fc.uniqueArray(tensorArb, { selector: (t) => t[0], maxLength: 4 }).map((tensors) => ({ tensors })),
      weight: 1,
    },
  ),
  where: fc.constantFrom('file', 'pickle'),
  flips: fc.oneof(
    { arbitrary: fc.constant([]), weight: 1 },
    { arbitrary: fc.array(fc.record({ at: fc.nat(), bit: fc.nat(7) }), { minLength: 1, maxLength: 4 }), weight: 2 },
  ),
  bytes: fc.oneof(
    { arbitrary: fc.constant([]), weight: 2 },
    { arbitrary: fc.array(byteMutation, { minLength: 1, maxLength: 2 }), weight: 1 },
  ),
});

function mutate(b: Uint8Array, c: Case): Uint8Array {
  const out = new Uint8Array(applyByteMutations(b, c.bytes));
  for (const f of c.flips) if (out.length) out[f.at % out.length] = (out[f.at % out.length] as number) ^ (1 << f.bit);
  return out;
}

/** The zip rebuilt with a mutated data.pkl (the other records as they were, CRCs recomputed). */
function mutatePickle(b: Uint8Array, c: Case): Uint8Array {
  const { entries } = readZipDirectory(b, 'base');
  const parts = [...entries.values()].map((e) => {
    const data = zipEntryData(b, e, 'base');
    return { name: e.name, data: e.name.endsWith('/data.pkl') ? mutate(data, c) : data };
  });
  return Buffer.concat(zipStored(parts));
}

function checkResult(tensors: Map<string, RawTensor>): void {
  for (const [k, t] of tensors) {
    assert.ok(
      t.shape.every((d) => Number.isSafeInteger(d) && d >= 0),
      `${k}: shape`,
    );
    const n = t.shape.reduce((a, b) => a * b, 1) * SAFETENSORS_DTYPE_BYTES[t.dtype];
    assert.equal(t.data.byteLength, n, `${k}: bytes`);
  }
}

export const pthTarget: FuzzTarget = {
  name: 'pth',
  ciRuns: 2000,
  property: ({ dir, onCase }) =>
    fc.asyncProperty(caseArb, async (c) => {
      const base =
        'fixture' in c.base
          ? new Uint8Array(readFileSync(join(fixtures, c.base.fixture)))
          : serializePth(new Map(c.base.tensors));
      const isZip = base[0] === 0x50;
      const valid = c.flips.length === 0 && c.bytes.length === 0;
      const bytes = c.where === 'pickle' && isZip ? mutatePickle(base, c) : mutate(base, c);
      const path = join(dir, c.file);
      writeFileSync(path, bytes);
      onCase(
        `${c.file} base=${'fixture' in c.base ? c.base.fixture : 'ladet'} where=${c.where} ` +
          `flips=${JSON.stringify(c.flips)} bytes=${JSON.stringify(c.bytes).slice(0, 300)} ${preview(bytes, 120)}`,
      );
      await checkCall({
        path,
        dir,
        label: 'readPth',
        call: () => readPth(path),
        expectOk: valid,
        verify: (f) => assert.ok(JSON.stringify(pickleToPlain(f.root, path)).length > 0),
      });
      await checkCall({
        path,
        dir,
        label: 'readPthStateDict',
        call: () => readPthStateDict(path),
        expectOk: valid,
        verify: (sd) => {
          checkResult(sd.tensors);
          JSON.stringify(sd.meta);
          if (valid && !('fixture' in c.base)) {
            const want = new Map(c.base.tensors);
            assert.deepEqual([...sd.tensors.keys()], [...want.keys()]);
            for (const [k, t] of want) {
              const got = sd.tensors.get(k) as RawTensor;
              assert.equal(got.dtype, t.dtype);
              assert.deepEqual(got.shape, t.shape);
              assert.ok(Buffer.from(got.data).equals(Buffer.from(t.data)), `${k}: data`);
            }
          }
        },
      });
    }),
};
