# Usage: awk -v MAXF=120 -v MAXL=800 -f test/barrier/lengths.awk FILES (exit 1 when any is too long).
# Prints "file:line: name N lines" for every function body longer than MAXF lines and
# "file: N lines" for every file longer than MAXL lines. A function starts at a line that ends in
# ") {" (or ") const {" etc.) outside any other function and is not a control statement.
function strip(s) {
    gsub(/\\./, "", s)
    gsub(/"[^"]*"/, "\"\"", s)
    gsub(/'[^']*'/, "''", s)
    sub(/\/\/.*/, "", s)
    return s
}
FNR == 1 {
    if (prev != "" && prevn > MAXL) { printf "%s: %d lines (more than %d)\n", prev, prevn, MAXL; bad++ }
    depth = 0; infn = 0; incomment = 0
}
{
    prev = FILENAME; prevn = FNR
    line = $0
    if (incomment) { if (line ~ /\*\//) { sub(/.*\*\//, "", line); incomment = 0 } else next }
    gsub(/\/\*[^*]*\*\//, "", line)
    if (line ~ /\/\*/) { sub(/\/\*.*/, "", line); incomment = 1 }
    line = strip(line)
    if (!infn && line ~ /\)[ a-z&]*\{[ ]*$/ && line !~ /^[ \t}]*(if|for|while|switch|else|do|catch|namespace|class|struct|enum|union)[ (]/) {
        infn = 1; start = FNR; base = depth; name = line; gsub(/^[ \t]+/, "", name)
    }
    o = gsub(/\{/, "{", line); c = gsub(/\}/, "}", line)
    depth += o - c
    if (infn && depth <= base && FNR > start || (infn && depth <= base && o == c && o > 0)) {
        n = FNR - start + 1
        if (n > MAXF) { printf "%s:%d: function of %d lines (more than %d): %s\n", FILENAME, start, n, MAXF, substr(name, 1, 70); bad++ }
        infn = 0
    }
}
END {
    if (prev != "" && prevn > MAXL) { printf "%s: %d lines (more than %d)\n", prev, prevn, MAXL; bad++ }
    exit bad > 0
}
