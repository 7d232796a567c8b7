# shellcheck shell=bash
# Shared helpers of the scripts in scripts/ (sourced, not run).

# Root of the repository this file belongs to.
PGT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PGT_ROOT

pgt_log() {
	printf '\n==> %s\n' "$*"
}

pgt_die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# Run a command as the `postgres` OS user when we are root (PostgreSQL refuses to run as root),
# directly otherwise.
pgt_as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# Run a command as root: directly when we are root, through sudo otherwise.
pgt_as_root() {
	if [[ $(id -u) -eq 0 ]]; then
		"$@"
	else
		sudo "$@"
	fi
}

# Copy the repository's files (tracked plus untracked-but-not-ignored, so build output and
# tmp_check dirs stay behind) into directory $1, preserving modification times.
pgt_copy_tree() {
	local dest=$1
	mkdir -p "$dest"
	if git -C "$PGT_ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		# Files deleted in the work tree but still in the index are skipped.
		(cd "$PGT_ROOT" &&
			git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do
				[[ -e $f || -L $f ]] && printf '%s\0' "$f"
			done |
			tar --null -T - -cf -) | tar -C "$dest" -xf -
	else
		(cd "$PGT_ROOT" &&
			tar --exclude='./build*' --exclude='./tmp_check*' --exclude='./results' \
				--exclude='./output_iso' --exclude='*.o' --exclude='*.so' --exclude='*.d' \
				--exclude='*.bc' --exclude='./.git' -cf - .) | tar -C "$dest" -xf -
	fi
}

# The PostgreSQL server binaries directory.
pgt_pg_bindir() {
	pg_config --bindir
}
