# bash completion for portsyncd (installed as
# /usr/share/bash-completion/completions/portsyncd). Kept in step with the
# command line by daemon/tests/completions.rs (which runs it in bash).

# The ASIC namespaces SONiC's database_global.json names (the file given by
# --db-global-config on the line, else SONiC's default), one per line.
_portsyncd_namespaces() {
    local file=/var/run/redis/sonic-db/database_global.json i w
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${COMP_WORDS[i]}"
        if [[ $w == --db-global-config ]]; then
            # "--db-global-config FILE", or "--db-global-config = FILE" as
            # bash splits "--db-global-config=FILE" at COMP_WORDBREAKS.
            if [[ ${COMP_WORDS[i+1]} == = ]]; then file="${COMP_WORDS[i+2]}"; else file="${COMP_WORDS[i+1]}"; fi
        elif [[ $w == --db-global-config=* ]]; then
            file="${w#*=}"
        fi
    done
    [[ -r $file ]] || return 0
    grep -o '"namespace"[[:space:]]*:[[:space:]]*"[^"]*"' -- "$file" 2>/dev/null |
        sed 's/.*"\([^"]*\)"$/\1/'
}

_portsyncd() {
    local cur prev flag prefix=""
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    # The flag whose value is being completed: "--flag VALUE"; "--flag=VALUE"
    # as one word (COMP_WORDBREAKS without '='); or as bash splits it by
    # default, "--flag" "=" "VALUE".
    if [[ $cur == --*=* ]]; then
        flag="${cur%%=*}"; prefix="$flag="; cur="${cur#*=}"
    elif [[ $cur == = && $prev == --* ]]; then
        flag="$prev"; cur=""
    elif [[ $prev == = && $COMP_CWORD -ge 2 ]]; then
        flag="${COMP_WORDS[COMP_CWORD-2]}"
    else
        flag="$prev"
    fi
    local IFS=$'\n'
    case "$flag" in
        --config|--db-config|--db-global-config)
            COMPREPLY=($(compgen -f -P "$prefix" -- "$cur")); return ;;
        --state-dir)
            COMPREPLY=($(compgen -d -P "$prefix" -- "$cur")); return ;;
        -n|--namespace)
            COMPREPLY=($(compgen -W "$(_portsyncd_namespaces)" -P "$prefix" -- "$cur")); return ;;
        --netns)
            COMPREPLY=($(compgen -W "$(ls /run/netns 2>/dev/null)" -P "$prefix" -- "$cur")); return ;;
        --db)
            COMPREPLY=($(compgen -W $'redis\nmemory' -P "$prefix" -- "$cur")); return ;;
        --metrics-addr)
            COMPREPLY=($(compgen -W $'9101\n127.0.0.1:9101\nunix:/run/portsyncd/metrics.sock' -P "$prefix" -- "$cur")); return ;;
    esac
    [[ $cur == = ]] && cur=""
    COMPREPLY=($(compgen -W $'--config\n--db-config\n-n\n--namespace\n--db-global-config\n--netns\n--db\n--state-dir\n--metrics-addr\n--check-config\n--version\n--help' -- "$cur"))
}
complete -F _portsyncd portsyncd
