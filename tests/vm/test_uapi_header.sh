#!/usr/bin/env bash
# The uapi header must stand alone: C89/C99/C11 with -pedantic, and C++ (98 and 17),
# with no help from other headers, and with every warning an error.
set -eu
cd "$(dirname "$0")/../.."
tmp=${SLUICE_TMP:-/tmp}/uapi-header.$$
mkdir -p "$tmp"; trap 'rm -rf "$tmp"' EXIT
printf '#include <linux/sluice.h>\nint main(void) { return (int)sizeof(struct sluice_event) - 48; }\n' > "$tmp/t.c"
cp "$tmp/t.c" "$tmp/t.cc"
for std in c89 c99 c11 gnu17; do
    gcc -std=$std -pedantic -Wall -Wextra -Werror -Iuapi -c "$tmp/t.c" -o "$tmp/t.o" ||
        { echo "C $std failed"; exit 1; }
done
for std in c++98 c++11 c++17; do
    g++ -std=$std -pedantic -Wall -Wextra -Werror -Iuapi -c "$tmp/t.cc" -o "$tmp/t.o" ||
        { echo "C++ $std failed"; exit 1; }
done
# -m32: a 32-bit build must see the same layout (pointers are __u64).
if echo 'int main(void){return 0;}' | gcc -m32 -x c - -o /dev/null 2>/dev/null; then
    gcc -m32 -std=c11 -pedantic -Werror -Iuapi -c "$tmp/t.c" -o "$tmp/t.o" || { echo "-m32 failed"; exit 1; }
fi
# kernel-doc on every field: scripts/kernel-doc (from linux-headers) warns about any
# undocumented member; the driver's comments must parse too.
kdoc=$(ls /usr/src/linux-headers-*-common/scripts/kernel-doc 2>/dev/null | sort -V | tail -n 1)
if [ -n "$kdoc" ]; then
    out=$(perl "$kdoc" -none uapi/linux/sluice.h driver/*.h driver/*.c 2>&1)
    [ -z "$out" ] || { echo "kernel-doc:"; echo "$out"; exit 1; }
fi
echo "uapi header compiles standalone (C89..C17, C++98..17)"
