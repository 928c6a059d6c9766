#!/usr/bin/env bash
# The Debian package built by cpack from this build tree: its Depends name
# the package of every shared library the binary links; it holds the
# binary, the web root and a hardened systemd unit under /usr and nothing
# else; unpacked anywhere, its binary serves /healthz and the index page
# from the unpacked web root with no --web-root.
set -u
bin=$1
build=${BC_BUILD_DIR:?BC_BUILD_DIR names the build tree}
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
failures=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; failures=$((failures + 1)); }
expect() { if eval "$1"; then ok "$2"; else bad "$2"; fi; }

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$tmp/pkg" >"$tmp/cpack.log" 2>&1
rc=$?
[ $rc -eq 0 ] || cat "$tmp/cpack.log"
expect "[ $rc -eq 0 ]" "cpack -G DEB builds the package"
deb=$(ls "$tmp"/pkg/*.deb 2>/dev/null | head -1)
if [ -z "$deb" ]; then
  bad "no .deb"
  exit 1
fi
version=$("$bin" --version | awk '{print $NF}')
expect "[ \"\$(dpkg-deb -f $deb Package)\" = babelcast ]" "package name babelcast"
expect "[ \"\$(dpkg-deb -f $deb Version)\" = $version ]" "package version $version, as the binary says"
expect "[ \"\$(dpkg-deb -f $deb Architecture)\" = \$(dpkg --print-architecture) ]" "architecture of this machine"

# Depends: every library the binary links, by the package that ships it
# here, or one of their own dependencies (a build that links without
# --as-needed also names libraries it does not use itself).
names() { tr -d ' ' | tr ',|' '\n\n' | sed 's/(.*//; s/:any$//' | grep -v '^$'; }
depends=$(dpkg-deb -f "$deb" Depends | names)
recommends=$(dpkg-deb -f "$deb" Recommends | names)
echo "Depends: $(echo $depends)"
pulled_in=$(for p in $depends; do dpkg-query -W -f='${Depends},${Pre-Depends}\n' "$p" 2>/dev/null; done | names | sort -u)
mkdir -p "$tmp/root"
dpkg-deb -x "$deb" "$tmp/root"
packaged="$tmp/root/usr/bin/babelcast"
libs=$(readelf -d "$packaged" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
expect "[ -n \"$libs\" ]" "the binary links shared libraries"
for lib in $libs; do
  path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
  pkg=$( (dpkg -S "$path" 2>/dev/null || dpkg -S "$(readlink -f "$path")" 2>/dev/null ||
          dpkg -S "/usr$path" 2>/dev/null || dpkg -S "${path#/usr}" 2>/dev/null) | head -1 | cut -d: -f1)
  case $pkg in
    libasan*|libubsan*) ok "$lib is the sanitizer runtime of this build (not a package dependency)"; continue ;;
  esac
  if [ -n "$pkg" ] && echo "$depends" | grep -qx "$pkg"; then
    ok "$lib ($pkg) is in Depends"
  else
    expect "[ -n \"$pkg\" ] && echo \"\$pulled_in\" | grep -qx \"$pkg\"" \
      "$lib ($pkg) comes with a package in Depends"
  fi
done
for pkg in pocketsphinx-en-us espeak-ng-data apertium apertium-eng-spa; do
  expect "echo \"\$depends\" | grep -qx $pkg" "$pkg (engine data) is in Depends"
done
for pkg in $depends $recommends; do
  expect "dpkg-query -W -f='\${Status}' $pkg 2>/dev/null | grep -q 'install ok installed'" \
    "$pkg is a real package (installed here)"
done

# Contents: all under /usr.
dpkg-deb -c "$deb" | awk '{print $NF}' >"$tmp/contents"
for f in ./usr/bin/babelcast ./usr/share/babelcast/web/index.html ./usr/share/babelcast/web/speak.html \
         ./usr/share/babelcast/web/listen.html ./usr/lib/systemd/system/babelcast.service; do
  expect "grep -qx '$f' $tmp/contents" "the package holds $f"
done
expect "! grep -v '^\./usr/' $tmp/contents | grep -vqx './'" "nothing outside /usr"
expect "! grep -q '^\./usr/local' $tmp/contents" "nothing in /usr/local"
mkdir -p "$tmp/control"
dpkg-deb -e "$deb" "$tmp/control"
for script in postinst prerm postrm; do
  expect "[ -x $tmp/control/$script ] && sh -n $tmp/control/$script" "$script is an executable shell script"
done

# The unit.
unit="$tmp/root/usr/lib/systemd/system/babelcast.service"
cat "$unit"
for line in 'ExecStart=/usr/bin/babelcast serve --data-dir /var/lib/babelcast $BABELCAST_OPTS' \
            'DynamicUser=yes' 'User=babelcast' 'StateDirectory=babelcast' 'NoNewPrivileges=yes' \
            'ProtectSystem=strict' 'ReadWritePaths=/var/lib/babelcast' 'ProtectHome=yes' \
            'CapabilityBoundingSet=' 'WantedBy=multi-user.target'; do
  expect "grep -qxF '$line' $unit" "unit: $line"
done
if command -v systemd-analyze >/dev/null; then
  # verify wants the binary to exist: point it at the unpacked one.
  sed "s#/usr/bin/babelcast#$packaged#" "$unit" >"$tmp/babelcast.service"
  expect "systemd-analyze verify $tmp/babelcast.service" "systemd-analyze verify accepts the unit"
fi

# The unpacked binary finds its own web root. A mark in the unpacked index
# page tells it from the source tree's.
mark="unpacked-web-root-$$"
echo "<!-- $mark -->" >>"$tmp/root/usr/share/babelcast/web/index.html"
"$packaged" serve --listen 127.0.0.1:0 --port-file "$tmp/port" --data-dir "$tmp/data" --no-speech \
  2>"$tmp/serve.log" &
pid=$!
for _ in $(seq 600); do [ -s "$tmp/port" ] && break; sleep 0.1; done
expect "[ -s $tmp/port ]" "the unpacked binary starts"
url=http://127.0.0.1:$(cat "$tmp/port" 2>/dev/null)
expect "curl -sf $url/healthz | grep -q '\"status\":\"ok\"'" "it answers /healthz"
expect "curl -sf $url/ | grep -q '$mark'" "GET / serves the unpacked index page"
expect "curl -sf $url/speak/x | grep -qi '<html'" "and the other pages"
expect "curl -sf $url/metrics | grep -q '^babelcast_build_info{.*role=\"all\"} 1'" "and /metrics"
expect "grep -q 'web root $tmp/root/usr/share/babelcast/web' $tmp/serve.log" "its log names the unpacked web root"
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
cat "$tmp/serve.log"
expect "[ $rc -eq 0 ]" "it stops cleanly on SIGTERM"

echo "package: $failures failures"
[ "$failures" -eq 0 ]
