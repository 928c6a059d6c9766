// Decodes the listener socket's Opus stream (one raw packet per binary
// message) with WebCodecs. Opus carries about a fifteenth of the bytes of PCM16, but
// only browsers whose AudioDecoder knows it can use it; the rest keep PCM16.

// The server's stream (hello.sample_rate); used to ask about support before
// the socket is open, and when hello names no rate.
const DEFAULT_SAMPLE_RATE = 16000;
const opusConfig = (sampleRate) => ({codec: 'opus', sampleRate: sampleRate || DEFAULT_SAMPLE_RATE,
  numberOfChannels: 1});
// Used when audio_start names no frame_ms; timestamps only need to increase.
const DEFAULT_FRAME_MS = 60;
const US_PER_MS = 1000;
const FIRST_CHANNEL = 0;

/** Resolves true when this browser can decode the server's Opus stream. */
export async function opusDecodingSupported() {
  if (typeof AudioDecoder !== 'function' || typeof EncodedAudioChunk !== 'function') return false;
  try {
    const answer = await AudioDecoder.isConfigSupported(opusConfig());
    return answer.supported === true;
  } catch (e) {
    return false;
  }
}

/**
 * onSamples(Float32Array, sampleRate) gets each decoded packet, at whatever
 * rate the decoder outputs (Chromium gives 48 kHz whatever the stream's rate).
 * onError(error) is called once; the decoder is unusable afterwards.
 */
export class OpusStreamDecoder {
  constructor(sampleRate, onSamples, onError) {
    this.config = opusConfig(sampleRate);
    this.onSamples = onSamples;
    this.onError = onError;
    this.failed = false;
    this.timestampUs = 0;
    this.decoder = new AudioDecoder({
      output: (data) => this.deliver(data),
      error: (e) => this.fail(e),
    });
    this.decoder.configure(this.config);
  }

  /** frameMs: the packet's duration, from audio_start. */
  decode(arrayBuffer, frameMs) {
    if (this.failed) return;
    try {
      this.decoder.decode(new EncodedAudioChunk({type: 'key', timestamp: this.timestampUs,
        data: arrayBuffer}));
      this.timestampUs += (frameMs || DEFAULT_FRAME_MS) * US_PER_MS;
    } catch (e) {
      this.fail(e);
    }
  }

  /** Pushes out what the decoder still holds, so an utterance's tail plays now. */
  endUtterance() {
    if (this.failed) return;
    // A reset during the flush rejects it; a real failure reaches onError.
    this.decoder.flush().catch(() => {});
  }

  /** Forgets packets in flight: a new connection starts a new stream. */
  reset() {
    if (this.failed) return;
    try {
      this.decoder.reset();
      this.decoder.configure(this.config);
      this.timestampUs = 0;
    } catch (e) {
      this.fail(e);
    }
  }

  close() {
    this.failed = true;
    if (this.decoder.state !== 'closed') this.decoder.close();
  }

  deliver(data) {
    try {
      if (this.failed) return;
      const samples = new Float32Array(data.numberOfFrames);
      // f32-planar is the one conversion every WebCodecs implementation must offer.
      data.copyTo(samples, {planeIndex: FIRST_CHANNEL, format: 'f32-planar'});
      this.onSamples(samples, data.sampleRate);
    } finally {
      data.close();
    }
  }

  fail(error) {
    if (this.failed) return;
    this.close();
    this.onError(error);
  }
}
