// Gapless playback of mono audio chunks: each chunk becomes an AudioBuffer
// scheduled right where the previous one ends on the AudioContext clock. A
// small lead (the jitter buffer) absorbs uneven network arrival; after an
// underrun playback restarts that lead ahead of "now". Chunks come either as
// raw PCM16LE frames or as Float32 samples a decoder produced, at any rate
// (the AudioContext resamples each buffer itself).

const JITTER_LEAD_S = 0.15;
const MIN_LEAD_S = 0.02; // less than this ahead of the clock counts as an underrun
const PCM16_SCALE = 1 / 32768;
const PCM16_BYTES = 2;

export class AudioPlayer {
  constructor(ctx, destination) {
    this.ctx = ctx;
    this.destination = destination;
    this.nextTime = 0;
    this.sources = new Set();
    this.carry = null; // odd trailing byte of the previous PCM16 frame
    this.scheduledSeconds = 0;
  }

  /** Schedules one binary frame of PCM16LE at sampleRate; returns false if empty. */
  pushPcm16(arrayBuffer, sampleRate) {
    let bytes = new Uint8Array(arrayBuffer);
    if (this.carry !== null) {
      const joined = new Uint8Array(bytes.length + 1);
      joined[0] = this.carry;
      joined.set(bytes, 1);
      bytes = joined;
      this.carry = null;
    }
    if (bytes.length % PCM16_BYTES) {
      this.carry = bytes[bytes.length - 1];
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    const n = bytes.length / PCM16_BYTES;
    if (n === 0) return false;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    const buf = this.ctx.createBuffer(1, n, sampleRate);
    const data = buf.getChannelData(0);
    for (let i = 0; i < n; i++) data[i] = view.getInt16(i * PCM16_BYTES, true) * PCM16_SCALE;
    this.schedule(buf);
    return true;
  }

  /** Schedules Float32 samples in [-1, 1] at sampleRate; returns false if empty. */
  pushSamples(samples, sampleRate) {
    if (samples.length === 0) return false;
    const buf = this.ctx.createBuffer(1, samples.length, sampleRate);
    buf.copyToChannel(samples, 0);
    this.schedule(buf);
    return true;
  }

  schedule(buf) {
    const src = this.ctx.createBufferSource();
    src.buffer = buf;
    src.connect(this.destination);
    const now = this.ctx.currentTime;
    if (this.nextTime < now + MIN_LEAD_S) this.nextTime = now + JITTER_LEAD_S;
    src.start(this.nextTime);
    this.nextTime += buf.duration;
    this.scheduledSeconds += buf.duration;
    this.sources.add(src);
    src.onended = () => this.sources.delete(src);
  }

  /** Drops the odd byte left over at the end of an utterance. */
  endUtterance() {
    this.carry = null;
  }

  /** Seconds of audio scheduled but not yet played. */
  get queuedSeconds() {
    return Math.max(0, this.nextTime - this.ctx.currentTime);
  }

  stop() {
    for (const s of this.sources) {
      try {
        s.stop();
      } catch (e) {
        // already stopped
      }
    }
    this.sources.clear();
    this.nextTime = 0;
    this.carry = null;
  }
}
