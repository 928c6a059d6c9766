// Minimal WAV reading and writing for the browser test's fake microphone file.
import fs from 'node:fs';

/** Reads a PCM16 mono WAV file; returns {rate, samples: Int16Array}. */
export function readWav(path) {
  const buf = fs.readFileSync(path);
  if (buf.toString('ascii', 0, 4) !== 'RIFF' || buf.toString('ascii', 8, 12) !== 'WAVE') {
    throw new Error(`${path}: not a RIFF/WAVE file`);
  }
  let off = 12;
  let fmt = null;
  while (off + 8 <= buf.length) {
    const id = buf.toString('ascii', off, off + 4);
    const size = buf.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      fmt = {format: buf.readUInt16LE(body), channels: buf.readUInt16LE(body + 2),
        rate: buf.readUInt32LE(body + 4), bits: buf.readUInt16LE(body + 14)};
    } else if (id === 'data') {
      if (!fmt || fmt.format !== 1 || fmt.bits !== 16 || fmt.channels !== 1) {
        throw new Error(`${path}: expected 16-bit PCM mono, got ${JSON.stringify(fmt)}`);
      }
      const n = Math.floor(Math.min(size, buf.length - body) / 2);
      const samples = new Int16Array(n);
      for (let i = 0; i < n; i++) samples[i] = buf.readInt16LE(body + i * 2);
      return {rate: fmt.rate, samples};
    }
    off = body + size + (size & 1);
  }
  throw new Error(`${path}: no data chunk`);
}

/** Writes PCM16 mono samples as a WAV file. */
export function writeWav(path, rate, samples) {
  const data = Buffer.alloc(samples.length * 2);
  for (let i = 0; i < samples.length; i++) data.writeInt16LE(samples[i], i * 2);
  const hdr = Buffer.alloc(44);
  hdr.write('RIFF', 0, 'ascii');
  hdr.writeUInt32LE(36 + data.length, 4);
  hdr.write('WAVE', 8, 'ascii');
  hdr.write('fmt ', 12, 'ascii');
  hdr.writeUInt32LE(16, 16);
  hdr.writeUInt16LE(1, 20); // PCM
  hdr.writeUInt16LE(1, 22); // mono
  hdr.writeUInt32LE(rate, 24);
  hdr.writeUInt32LE(rate * 2, 28);
  hdr.writeUInt16LE(2, 32);
  hdr.writeUInt16LE(16, 34);
  hdr.write('data', 36, 'ascii');
  hdr.writeUInt32LE(data.length, 40);
  fs.writeFileSync(path, Buffer.concat([hdr, data]));
}

/** Clips joined with gaps of digital silence; all clips must share one rate. */
export function joinWithSilence(clips, leadS, gapS, tailS) {
  const rate = clips[0].rate;
  for (const c of clips) if (c.rate !== rate) throw new Error('clips differ in sample rate');
  const parts = [new Int16Array(Math.round(leadS * rate))];
  clips.forEach((c, i) => {
    parts.push(c.samples);
    parts.push(new Int16Array(Math.round((i === clips.length - 1 ? tailS : gapS) * rate)));
  });
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return {rate, samples: out};
}
