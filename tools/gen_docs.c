/* gen_docs: the man page and the shell completions, made from the option
 * table (cli.h), so that they cannot disagree with the parser or --help.
 *   gen_docs man    fmnist(1), in man(7) roff
 *   gen_docs bash   the bash completion (_fmnist)
 *   gen_docs zsh    the zsh completion (#compdef fmnist)
 *   gen_docs list   "COMMAND OPTION" per line, for tests/docs.sh
 * The Makefile writes them into BUILD/doc/; make install installs them. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "version.h"

static const cli_option *ops;
static const cli_command_doc *cmds;
static int nops, ncmds;

static int takes(const cli_option *o, const cli_command_doc *c)
{
    return (o->commands & (1u << c->command)) != 0;
}

/* Whether the command takes words besides its options: its synopsis ends
 * in one that repeats ("PICTURE..."). */
static int takes_operands(const cli_command_doc *c)
{
    return strstr(c->args, "...") != NULL;
}

/* Whether a long word (augment's default spec, a path) may break after
 * *s: after a ',' or a '/' followed by more of the word (not the '/' of
 * a leading ./ or ~/), marked \: (which prints nothing). */
static int breakable(const char *start, const char *s)
{
    if (*s != ',' && *s != '/')
        return 0;
    if (!s[1] || s[1] == ' ' || s[1] == ')')
        return 0;
    return *s == ',' || (s > start && s[-1] != '.' && s[-1] != '~' && s[-1] != ' ');
}

/* Text for roff: backslashes doubled, '-' as \-, a leading '.' or '\''
 * escaped. */
static void roff(const char *s)
{
    const char *start = s;
    int col = 0;
    if (*s == '.' || *s == '\'')
        fputs("\\&", stdout);
    for (; *s; s++) {
        if (*s == ' ') {
            /* Input lines under 80 bytes: a new line before a word that
             * would pass 76 as written (escapes included; never before a
             * '.' or a quote). */
            int len = 0;
            for (const char *w = s + 1; *w && *w != ' '; w++)
                len += 1 + (*w == '\\' || *w == '-') + 2 * breakable(start, w);
            if (col + 1 + len > 76 && s[1] != '.' && s[1] != '\'') {
                putchar('\n');
                col = 0;
                continue;
            }
        }
        if (*s == '\\')
            fputs("\\e", stdout), col += 2;
        else if (*s == '-')
            fputs("\\-", stdout), col += 2;
        else
            putchar(*s), col++;
        /* A place to break a long word (augment's default spec, a path):
         * after a ',' or a '/' inside it, as \: (prints nothing). */
        if (breakable(start, s))
            fputs("\\:", stdout), col += 2;
    }
}

static void man_option(const cli_option *o, const cli_command_doc *c)
{
    puts(".TP");
    if (o->short_name)
        printf("\\fB\\-%c\\fR, ", o->short_name);
    fputs("\\fB", stdout);
    roff(o->name);
    fputs("\\fR", stdout);
    if (o->arg) {
        fputs(" \\fI", stdout);
        roff(o->arg);
        fputs("\\fR", stdout);
    }
    putchar('\n');
    char help[2048], text[sizeof help + 256];
    cli_help_for(o->help, c->command, help, sizeof help);
    snprintf(text, sizeof text, "%s%s%s%s.", help, o->deflt ? " (default " : "",
             o->deflt ? o->deflt : "", o->deflt ? ")" : "");
    roff(text);
    putchar('\n');
}

/* The man page's ENVIRONMENT and FILES: as src/main.c's locate_model and
 * src/idx.c's idx_locate search. */
static void man_environment(void)
{
    puts(".SH ENVIRONMENT\n"
         ".TP\n"
         ".B FMNIST_DATA\n"
         "the data set's folder, when \\-\\-data is not given.\n"
         ".TP\n"
         ".B FMNIST_MODEL\n"
         "the model eval, classify and convert read when \\-\\-model is not given;\n"
         "a name that does not exist is an error (unset, the files below are searched).\n"
         ".TP\n"
         ".B XDG_DATA_HOME\n"
         "the folder of the user's model,\n"
         ".IR \\%$XDG_DATA_HOME/\\:fmnist/\\:fmnist.model ;\n"
         "when unset or empty,\n"
         ".IR \\%~/.local/\\:share/\\:fmnist/\\:fmnist.model .\n"
         ".TP\n"
         ".B HOME\n"
         "for\n"
         ".I \\%~/.local/share\n"
         "and the data set's folder\n"
         ".IR \\%~/.pytorch/\\:F_MNIST_data/\\:FashionMNIST/\\:raw .\n"
         ".TP\n"
         ".B COLUMNS\n"
         "the width of the progress line when the terminal's cannot be asked.\n"
         ".TP\n"
         ".B FMNIST_KERNEL\n"
         "ref, generic, avx2 or avx512: forces a kernel implementation\n"
         "(all give the same bits).\n"
         ".TP\n"
         ".B NO_COLOR\n"
         "honoured: fmnist uses no colour.");
}

static void man_files(void)
{
    puts(".SH FILES\n"
         "Without \\-\\-model and $FMNIST_MODEL, eval, classify and convert read\n"
         "the first of the three models below that exists.\n"
         ".TP\n"
         ".I fmnist.model\n"
         "the model in the current folder; what train writes by default.\n"
         ".TP\n"
         ".I \\%${XDG_DATA_HOME:\\-~/.local/share}/\\:fmnist/\\:fmnist.model\n"
         "the user's model.\n"
         ".TP\n"
         ".I \\%PREFIX/\\:share/\\:fmnist/\\:fmnist.model\n"
         "the model\n"
         ".B make install\n"
         "installs\n"
         "(\\c\n"
         ".B make model\n"
         "makes the recommended one), PREFIX being that of\n"
         ".BR \"make install\" :\n"
         ".I /usr/local\n"
         "by default.\n"
         ".TP\n"
         ".I FILE.ckpt\n"
         "the checkpoint of an interrupted training run.\n"
         ".TP\n"
         ".I ./data\n"
         "the data set, when neither \\-\\-data nor $FMNIST_DATA is given; then\n"
         ".I \\%/usr/\\:share/\\:datasets/\\:fashion\\-mnist\n"
         "(Debian's dataset\\-fashion\\-mnist), then\n"
         ".IR \\%~/.pytorch/\\:F_MNIST_data/\\:FashionMNIST/\\:raw .");
}

static void man(void)
{
    printf(".TH FMNIST 1 %s \"fmnist %s\" \"User Commands\"\n", FMNIST_DATE, FMNIST_VERSION);
    /* Left-aligned: a line holding a long word (augment's default spec, a
     * path) cannot be justified, and troff warns at every width. */
    puts(".ad l");
    puts(".SH NAME\nfmnist \\- train a network on Fashion\\-MNIST and classify pictures of clothing");
    puts(".SH SYNOPSIS");
    for (int c = 0; c < ncmds; c++) {
        printf(".B fmnist %s\n", cmds[c].name);
        roff(cmds[c].args);
        puts("\n.br");
    }
    puts(".B fmnist help\n.RI [ COMMAND ]\n.br\n.B fmnist \\-\\-version");
    puts(".SH DESCRIPTION\n.B fmnist\ntrains the 784\\-256\\-128\\-64\\-10 network of a PyTorch "
         "tutorial\non Fashion\\-MNIST, bit for bit the same on any thread count and CPU,\n"
         "evaluates it, and classifies people's own pictures of clothing (PNG or JPEG)\n"
         "into the data set's ten classes.");
    puts(".SH COMMANDS");
    for (int c = 0; c < ncmds; c++) {
        printf(".SS %s\n", cmds[c].name);
        roff(cmds[c].description);
        putchar('\n');
        if (cmds[c].notes) {
            puts(".PP");
            roff(cmds[c].notes);
            putchar('\n');
        }
    }
    puts(".SH OPTIONS");
    for (int c = 0; c < ncmds; c++) {
        printf(".SS %s\n", cmds[c].name);
        for (int k = 0; k < nops; k++)
            if (takes(&ops[k], &cmds[c]))
                man_option(&ops[k], &cmds[c]);
    }
    puts(".SH EXIT STATUS\n.TP\n0\nsuccess.\n.TP\n1\nfailure: a bad file, an I/O error, "
         "training that diverged.\n.TP\n2\na usage error.\n.TP\n130, 143\ntraining stopped by "
         "SIGINT or SIGTERM; a checkpoint was saved.");
    man_environment();
    man_files();
    puts(".SH EXAMPLES\n.nf\nfmnist train \\-\\-epochs 5\nfmnist eval\nfmnist train \\-\\-preset "
         "robust \\-\\-model robust.model\nfmnist classify \\-\\-model robust.model shirt.jpg\n"
         "fmnist export \\-\\-index 4 \\-o shirt.png\n.fi");
    puts(".SH SEE ALSO\nThe README and docs of fmnist;\nFashion\\-MNIST: "
         "https://github.com/zalandoresearch/fashion\\-mnist");
}

/* The words an option's value completes to, for bash (a shell word). */
static void bash_values(const cli_option *o)
{
    if (!o->complete)
        printf("            COMPREPLY=(); return ;;\n");
    else if (!strcmp(o->complete, "@file"))
        printf("            _fmnist_files -f; return ;;\n");
    else if (!strcmp(o->complete, "@dir"))
        printf("            _fmnist_files -d; return ;;\n");
    else
        printf("            COMPREPLY=($(compgen -W '%s' -- \"$cur\")); return ;;\n",
               o->complete);
}

/* Files (-f) or folders (-d) for bash: one completion a line (names with
 * spaces stay whole), the word as typed unquoted first ('x, "x, x\ y), and
 * -o filenames, so that bash quotes what it inserts and marks folders
 * with a '/'. */
static const char bash_files[] =
    "_fmnist_files()\n"
    "{\n"
    "    local IFS=$'\\n' w=$cur u= i c q=\n"
    "    case $w in\n"
    "        \\'*) w=${w#\\'}; q=\\' ;;\n"
    "        \\\"*) w=${w#\\\"}; q=\\\" ;;\n"
    "    esac\n"
    "    if [ \"$q\" != \\' ]; then\n"
    "        for ((i = 0; i < ${#w}; i++)); do\n"
    "            c=${w:i:1}\n"
    "            if [ \"$c\" = \\\\ ] && [ $((i + 1)) -lt ${#w} ]; then\n"
    "                case $q${w:i+1:1} in\n"
    "                    \\\"[\\\"\\\\$\\`]|?) i=$((i + 1)); c=${w:i:1} ;;\n"
    "                esac\n"
    "            fi\n"
    "            u+=$c\n"
    "        done\n"
    "        w=$u\n"
    "    fi\n"
    "    compopt -o filenames 2> /dev/null\n"
    "    mapfile -t COMPREPLY < <(compgen \"$1\" -- \"$w\")\n"
    "}\n";

static void bash(void)
{
    puts("# bash completion for fmnist(1); made by tools/gen_docs from the option table.");
    fputs(bash_files, stdout);
    puts("_fmnist()\n{\n    local cur prev cmd i\n    cur=${COMP_WORDS[COMP_CWORD]}\n"
         "    prev=${COMP_WORDS[COMP_CWORD-1]}\n    cmd=${COMP_WORDS[1]}");
    fputs("    if [ \"$COMP_CWORD\" -eq 1 ]; then\n        COMPREPLY=($(compgen -W '", stdout);
    for (int c = 0; c < ncmds; c++)
        printf("%s ", cmds[c].name);
    puts("help --help --version' -- \"$cur\"))\n        return\n    fi");
    puts("    if [ \"$cmd\" = help ]; then");
    fputs("        COMPREPLY=($(compgen -W '", stdout);
    for (int c = 0; c < ncmds; c++)
        printf("%s%s", c ? " " : "", cmds[c].name);
    puts("' -- \"$cur\"))\n        return\n    fi");
    /* After a "--" word, only operands (the parser takes no option there):
     * files for a command that takes them, nothing for the others. */
    fputs("    for ((i = 2; i < COMP_CWORD; i++)); do\n"
          "        if [ \"${COMP_WORDS[i]}\" = -- ]; then\n            case $cmd in\n", stdout);
    for (int c = 0; c < ncmds; c++)
        if (takes_operands(&cmds[c]))
            printf("                %s) _fmnist_files -f ;;\n", cmds[c].name);
    puts("                *) COMPREPLY=() ;;\n            esac\n            return\n        fi\n"
         "    done");
    puts("    case $prev in");
    for (int k = 0; k < nops; k++) {
        if (!ops[k].arg)
            continue;
        printf("        %s", ops[k].name);
        if (ops[k].short_name)
            printf("|-%c", ops[k].short_name);
        puts(")");
        bash_values(&ops[k]);
    }
    puts("    esac\n    case $cmd in");
    for (int c = 0; c < ncmds; c++) {
        printf("        %s) local opts='", cmds[c].name);
        for (int k = 0; k < nops; k++)
            if (takes(&ops[k], &cmds[c]))
                printf("%s ", ops[k].name);
        printf("' files=%s ;;\n", takes_operands(&cmds[c]) ? "1" : "");
    }
    puts("        *) return ;;\n    esac");
    /* A command without operands: its options even for an empty word. */
    puts("    if [[ $cur == -* ]] || [ -z \"$files\" ]; then\n"
         "        COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))\n"
         "    else\n        _fmnist_files -f\n    fi\n}");
    puts("complete -F _fmnist fmnist");
}

/* An option's description in a zsh _arguments spec, which the file
 * single-quotes: the whole help text, with '\', '[', ']', ':', '$' and
 * '`' escaped by a backslash for _arguments (which would end the
 * description at an unescaped ']' and split the spec at a ':'), and a
 * single quote written as '\''. */
static void zsh_desc(const char *s)
{
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", stdout);
        else {
            if (strchr("\\[]:$`", *s))
                putchar('\\');
            putchar(*s == '\n' ? ' ' : *s);
        }
    }
}

/* One zsh _arguments spec for an option of command c. */
static void zsh_option(const cli_option *o, const cli_command_doc *c)
{
    char help[2048];
    cli_help_for(o->help, c->command, help, sizeof help);
    printf("        '%s[", o->name);
    zsh_desc(help);
    putchar(']');
    if (o->arg) {
        printf(":%s:", o->arg);
        if (!o->complete)
            printf(" ");
        else if (!strcmp(o->complete, "@file"))
            printf("_files");
        else if (!strcmp(o->complete, "@dir"))
            printf("_files -/");
        else
            printf("(%s)", o->complete);
    }
    puts("' \\");
    if (o->short_name) {
        printf("        '-%c[", o->short_name);
        zsh_desc(help);
        printf("]%s' \\\n", o->arg ? ":value:_files" : "");
    }
}

static void zsh(void)
{
    puts("#compdef fmnist\n# zsh completion for fmnist(1); made by tools/gen_docs from the option "
         "table.\n_fmnist() {\n    local cmd\n    if (( CURRENT == 2 )); then");
    fputs("        compadd -- ", stdout);
    for (int c = 0; c < ncmds; c++)
        printf("%s ", cmds[c].name);
    puts("help --help --version\n        return\n    fi\n    cmd=${words[2]}\n"
         "    shift words\n    (( CURRENT-- ))\n    case $cmd in");
    for (int c = 0; c < ncmds; c++) {
        printf("    %s)\n        _arguments \\\n", cmds[c].name);
        for (int k = 0; k < nops; k++)
            if (takes(&ops[k], &cmds[c]))
                zsh_option(&ops[k], &cmds[c]);
        puts(takes_operands(&cmds[c]) ? "        '*:picture:_files'\n        ;;"
                                      : "        \n        ;;");
    }
    fputs("    help) compadd --", stdout);
    for (int c = 0; c < ncmds; c++)
        printf(" %s", cmds[c].name);
    puts(" ;;\n    esac\n}\n_fmnist \"$@\"");
}

static void list(void)
{
    for (int c = 0; c < ncmds; c++)
        for (int k = 0; k < nops; k++)
            if (takes(&ops[k], &cmds[c]))
            {
                printf("%s %s", cmds[c].name, ops[k].name);
                if (ops[k].short_name)
                    printf(" -%c", ops[k].short_name);
                putchar('\n');
            }
}

int main(int argc, char **argv)
{
    ops = cli_options(&nops);
    cmds = cli_commands(&ncmds);
    const char *what = argc > 1 ? argv[1] : "";
    if (!strcmp(what, "man"))
        man();
    else if (!strcmp(what, "bash"))
        bash();
    else if (!strcmp(what, "zsh"))
        zsh();
    else if (!strcmp(what, "list"))
        list();
    else {
        fprintf(stderr, "usage: gen_docs man|bash|zsh|list\n");
        return 2;
    }
    if (fflush(stdout) || ferror(stdout)) {
        fprintf(stderr, "gen_docs: write error\n");
        return 1;
    }
    return 0;
}
