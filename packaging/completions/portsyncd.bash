# bash completion for portsyncd (installed as
# /usr/share/bash-completion/completions/portsyncd). Kept in step with the
# command line by daemon/tests/completions.rs.
_portsyncd() {
    local cur prev
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    case "$prev" in
        --config|--db-config|--db-global-config)
            COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --state-dir)
            COMPREPLY=($(compgen -d -- "$cur")); return ;;
        -n|--namespace|--netns)
            COMPREPLY=($(compgen -W "$(ls /run/netns 2>/dev/null)" -- "$cur")); return ;;
        --db)
            COMPREPLY=($(compgen -W "redis memory" -- "$cur")); return ;;
        --metrics-addr)
            COMPREPLY=($(compgen -W "9101 127.0.0.1:9101 unix:/run/portsyncd/metrics.sock" -- "$cur")); return ;;
    esac
    COMPREPLY=($(compgen -W "--config --db-config -n --namespace --db-global-config --netns --db --state-dir --metrics-addr --check-config --version --help" -- "$cur"))
}
complete -F _portsyncd portsyncd
