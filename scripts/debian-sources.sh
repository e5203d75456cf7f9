# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# debian-sources.sh: this machine's Debian apt configuration as mmdebstrap
# wants it, for building root filesystems offline from the machine's own
# mirror (no mirror's name is written in this project).  Sourced by
# images/build.sh and scripts/ensure-docker26.sh; uses PROG in its warnings.
#
#   debian_sources SUITE [AS]  the binary sources of SUITE and its -updates
#                              and -security suites as deb822 stanzas; with
#                              AS, the same mirrors for suite AS instead (a
#                              bookworm machine's mirrors serve trixie too)
#   debian_aptopts             apt options the new root needs as well

# Print, as deb822 stanzas, the binary Debian sources of this machine for
# SUITE and its -updates/-security suites (sources.list one-line entries and
# sources.list.d/*.list and *.sources). Entries that apt inside the new root
# could not verify (third-party components, or Signed-By keyrings other than
# the debian-archive ones, which the root gets from debian-archive-keyring)
# are left out.
debian_sources() {
    local suite=$1 as=${2:-}
    local files=() f
    [[ -f /etc/apt/sources.list ]] && files+=(/etc/apt/sources.list)
    for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [[ -f $f ]] && files+=("$f")
    done
    ((${#files[@]})) || return 1
    awk -v suite="$suite" -v as="$as" -v prog="$PROG" '
        function warn(msg) { printf "%s: skipping apt source in %s: %s\n", prog, src, msg > "/dev/stderr" }
        function trim(s) { gsub(/^[ \t]+|[ \t]+$/, "", s); return s }
        # emit(types, uris, suites, comps, signedby): filter and print one stanza
        function emit(types, uris, suites, comps, signedby,    n, i, a, s, c, sb) {
            if ((" " types " ") !~ / deb /) return
            s = ""; n = split(suites, a, /[ \t]+/)
            for (i = 1; i <= n; i++)
                if (a[i] == suite || a[i] == suite "-updates" || a[i] == suite "-security" || a[i] == suite "/updates")
                    s = s (s == "" ? "" : " ") (as == "" ? a[i] : a[i] == suite "/updates" ? as "-security" : as substr(a[i], length(suite) + 1))
            if (s == "") return
            c = ""; n = split(comps, a, /[ \t]+/)
            for (i = 1; i <= n; i++)
                if (a[i] ~ /^(main|contrib|non-free|non-free-firmware)$/)
                    c = c (c == "" ? "" : " ") a[i]
            if (c == "") { warn("no Debian components in \"" comps "\""); return }
            sb = trim(signedby)
            if (sb ~ /\n/) { warn("inline Signed-By key"); return }
            if (sb != "" && sb !~ /^\/usr\/share\/keyrings\/debian-archive-[^ ]*\.(gpg|pgp|asc)$/) {
                warn("Signed-By " sb " is not a debian-archive keyring"); return
            }
            if (uris ~ /(^|[ \t])cdrom:/) { warn("cdrom source"); return }
            printf "Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\n", trim(uris), s, c
            if (sb != "") printf "Signed-By: %s\n", sb
            printf "\n"
            found++
        }
        function flush() {
            if (in_stanza && tolower(f["enabled"]) != "no")
                emit(f["types"], f["uris"], f["suites"], f["components"], f["signed-by"])
            delete f; in_stanza = 0; last = ""
        }
        FNR == 1 { flush(); src = FILENAME; deb822 = (FILENAME ~ /\.sources$/) }
        deb822 {
            if ($0 ~ /^[ \t]*$/) { flush(); next }
            if ($0 ~ /^#/) next
            if ($0 ~ /^[ \t]/) {            # continuation line (e.g. inline key)
                if (last != "") f[last] = f[last] "\n" $0
                next
            }
            i = index($0, ":"); if (i == 0) next
            last = tolower(trim(substr($0, 1, i - 1)))
            f[last] = trim(substr($0, i + 1)); in_stanza = 1
            next
        }
        {                                   # one-line format
            sub(/#.*/, ""); if (NF == 0 || $1 != "deb") next
            line = $0; sub(/^[ \t]*deb[ \t]+/, "", line)
            sb = ""
            if (line ~ /^\[/) {
                opts = substr(line, 2, index(line, "]") - 2)
                line = substr(line, index(line, "]") + 1)
                n = split(opts, a, /[ \t]+/)
                for (i = 1; i <= n; i++) if (tolower(a[i]) ~ /^signed-by=/) sb = substr(a[i], 11)
            }
            n = split(trim(line), a, /[ \t]+/)
            if (n < 3) next
            comps = a[3]; for (i = 4; i <= n; i++) comps = comps " " a[i]
            emit("deb", a[1], a[2], comps, sb)
        }
        END { flush(); if (!found) exit 3 }
    ' "${files[@]}"
}

# Options from this machine's apt configuration that apt in the new root
# needs too (it does not read the host's apt.conf.d): release-file date
# checks (needed with snapshot mirrors) and non-local proxies. mmdebstrap
# keeps them in the root's /etc/apt/apt.conf.d/99mmdebstrap, so the
# Dockerfile's apt-get sees them as well.
debian_aptopts() {
    apt-config dump --format '%f=%v%n' 2>/dev/null | awk -F= '
        $1 ~ /^Acquire::(Check-Valid-Until|Check-Date)$/ && $2 != "" { printf "%s \"%s\";\n", $1, $2 }
        $1 ~ /^Acquire::(http|https)::Proxy$/ && $2 != "" && $2 !~ /(localhost|127\.0\.0\.1|\[::1\])/ {
            printf "%s \"%s\";\n", $1, substr($0, length($1) + 2)
        }'
}
