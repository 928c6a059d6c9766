#!/usr/bin/env bash
# babelcast translate on a real recording writes valid captions and audio;
# bad files and bad arguments fail with exit code 1 or 2 and a one-line error.
set -u
bin=$1
speech=${BC_TEST_SPEECH_DIR:-/usr/share/pocketsphinx/test/data}
clip=$speech/librivox/sense_and_sensibility_01_austen_64kb-0880.wav
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect() { if eval "$1"; then ok "$2"; else bad "$2"; fi; }

"$bin" translate "$clip" --to es,ca --out "$tmp" >"$tmp/stdout" 2>"$tmp/stderr"
rc=$?
cat "$tmp/stdout" "$tmp/stderr"
expect "[ $rc -eq 0 ]" "translate exits 0"
name=sense_and_sensibility_01_austen_64kb-0880
for lang in en es ca; do
  for ext in vtt srt txt; do
    expect "[ -s $tmp/$name.$lang.$ext ]" "$name.$lang.$ext written"
  done
done
expect "head -1 $tmp/$name.es.vtt | grep -qx WEBVTT" "VTT header"
expect "grep -qE '^00:00:0[0-9]\.[0-9]{3} --> 00:00:0[0-9]\.[0-9]{3}$' $tmp/$name.es.vtt" "VTT cue timing within the clip"
expect "grep -qE '^00:00:0[0-9],[0-9]{3} --> 00:00:0[0-9],[0-9]{3}$' $tmp/$name.es.srt" "SRT cue timing"
expect "grep -q 'young man' $tmp/$name.en.txt" "English transcript has 'young man'"
expect "grep -qi 'joven' $tmp/$name.es.txt" "Spanish transcript has 'joven'"
expect "grep -qi 'jove' $tmp/$name.ca.txt" "Catalan transcript has 'jove'"
expect "grep -q 'es:' $tmp/stdout" "translations printed"

# The speech: a valid WAV, at least as long as the input, not silent.
python3 - "$tmp/$name.es.wav" "$clip" <<'PY' && ok "Spanish WAV is valid, covers the input and holds speech" || bad "Spanish WAV"
import sys, wave, array, math
with wave.open(sys.argv[1]) as w, wave.open(sys.argv[2]) as src:
    assert w.getnchannels() == 1 and w.getsampwidth() == 2
    out_s = w.getnframes() / w.getframerate()
    in_s = src.getnframes() / src.getframerate()
    pcm = array.array("h", w.readframes(w.getnframes()))
rms = math.sqrt(sum(x * x for x in pcm) / len(pcm))
print("es.wav %.2f s for %.2f s of input, rms %.0f" % (out_s, in_s, rms))
assert out_s >= in_s - 0.05 and rms > 300
PY

"$bin" translate "$clip" --to es --no-speech --quiet --out "$tmp/nospeech/deeper" >"$tmp/q" 2>&1
expect "[ $? -eq 0 ] && [ ! -s $tmp/q ] && [ ! -e $tmp/nospeech/deeper/$name.es.wav ] && [ -s $tmp/nospeech/deeper/$name.es.vtt ]" "--no-speech --quiet creates the missing --out directories, writes captions only, prints nothing"

# Simultaneous mode: the same transcripts, whole utterances, and speech.
mkdir "$tmp/simul"
"$bin" translate "$clip" --to es --mode simultaneous --quiet --out "$tmp/simul" >/dev/null 2>&1
expect "[ $? -eq 0 ] && grep -qi 'joven' $tmp/simul/$name.es.txt && [ -s $tmp/simul/$name.es.wav ]" "--mode simultaneous writes captions and speech"
expect "cmp -s $tmp/$name.en.txt $tmp/simul/$name.en.txt" "--mode simultaneous: the same English transcript here (its final agreed with the committed words)"

# Bad input: each exits with its code and exactly one line on stderr.
printf 'this is not audio at all\n' >"$tmp/text.wav"
head -c 30 "$clip" >"$tmp/truncated.wav"
python3 -c "
import sys
d = bytearray(open('$clip','rb').read())
d[40:44] = (10**9).to_bytes(4, 'little')
open('$tmp/lying.wav','wb').write(d)"
printf '\1\2\3' >"$tmp/odd.raw"
: >"$tmp/empty.wav"
check_error() {
  local want=$1 what=$2; shift 2
  "$bin" "$@" >"$tmp/out" 2>"$tmp/err"
  local rc=$? lines
  lines=$(wc -l <"$tmp/err")
  if [ $rc -eq "$want" ] && [ "$lines" -eq 1 ] && grep -q '^babelcast' "$tmp/err"; then
    ok "$what -> exit $want: $(cat "$tmp/err")"
  else
    bad "$what -> exit $rc (want $want), stderr: $(cat "$tmp/err")"
  fi
}
check_error 1 "text file named .wav" translate "$tmp/text.wav" --out "$tmp"
check_error 1 "truncated WAV" translate "$tmp/truncated.wav" --out "$tmp"
check_error 1 "WAV whose data size lies" translate "$tmp/lying.wav" --out "$tmp"
check_error 1 "odd-length raw PCM" translate "$tmp/odd.raw" --out "$tmp"
check_error 1 "empty file" translate "$tmp/empty.wav" --out "$tmp"
check_error 1 "missing file" translate "$tmp/nonexistent.wav" --out "$tmp"
check_error 1 "--out below a file" translate "$clip" --out "$tmp/text.wav/sub"
check_error 2 "unknown language" translate "$clip" --to xx --out "$tmp"
check_error 2 "unknown mode" translate "$clip" --mode fast --out "$tmp"
check_error 2 "malformed language list" translate "$clip" --to es,,ca --out "$tmp"
check_error 2 "no input" translate
check_error 2 "two inputs" translate "$clip" "$clip"
check_error 2 "unknown option" translate "$clip" --bogus
check_error 2 "unknown command" frobnicate
check_error 2 "serve with a bad --listen" serve --listen nowhere
check_error 2 "serve with a bad --workers" serve --workers zero

for cmd in translate languages serve speak listen; do
  "$bin" $cmd --help >"$tmp/help" 2>&1
  expect "[ $? -eq 0 ] && grep -q usage $tmp/help" "$cmd --help"
done
"$bin" --version | grep -q '^babelcast [0-9]' && ok "--version" || bad "--version"
"$bin" languages >"$tmp/langs"
expect "grep -qE '^es +Spanish +es ' $tmp/langs && grep -qE '^fr .*via es +eng-spa \+ es-fr' $tmp/langs && grep -q 'stand-in' $tmp/langs" "languages lists voices, pivots and stand-ins"

echo "$failures failed"
[ $failures -eq 0 ]
