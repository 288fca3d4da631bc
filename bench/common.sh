# Helpers the bench scripts share (sourced, not run).
PY=/usr/bin/python3

# A field of a wrk RESULT line: field "$line" rps
field() { sed -E "s/.* $2=([^ ]+).*/\1/" <<<"$1"; }
# A value from a JSON file: json_field FILE 'd["key"][0]'
json_field() { "$PY" -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2], {}, {'d': d}))" "$@"; }
# a / b with two decimals
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
