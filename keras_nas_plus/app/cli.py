"""The `keras-nas-plus` command line.

    keras-nas-plus search CONFIG.yaml [--set section.key=value ...] [--overwrite] [--retrain-final]
    keras-nas-plus report RUN_DIR [--output DIR] [--no-plots]
    keras-nas-plus benchmark --table nb201-cifar10 --strategy evolution ...

Exit status: 0 on success, 2 for bad input (config, data, arguments; one
line on standard error naming the offending key or value), 1 for a search
that ran but could not produce a result.
"""

import argparse
import os
import sys

from keras_nas_plus import datasets
from keras_nas_plus.app import config as config_module
from keras_nas_plus.app import fidelity_report as fidelity_cli
from keras_nas_plus.app import report
from keras_nas_plus.app import run
from keras_nas_plus.tabular import cli as benchmark_cli


class _Parser(argparse.ArgumentParser):
    """Argument errors exit with status 2 and one clear line."""

    def error(self, message):
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def _add_search_parser(subparsers):
    p = subparsers.add_parser(
        "search",
        help="run an architecture search described by a YAML file",
        description="Run (or resume) the search described by CONFIG.yaml.",
        usage="keras-nas-plus search [-h] [--set KEY=VALUE] [--overwrite] [--retrain-final] config",
    )
    p.add_argument("config", help="path of the YAML configuration")
    p.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
        help="override a configuration value, e.g. --set search.max_trials=3 (repeatable; "
             "dotted keys of any depth, YAML-typed values)",
    )
    p.add_argument("--overwrite", action="store_true", help="start over instead of resuming search.directory")
    p.add_argument("--retrain-final", action="store_true",
                   help="when search.directory holds a finished search, train the final model again "
                        "(otherwise a finished search only reports its results)")
    return p


def _check_set_arguments(argv):
    """`--set KEY VALUE` (no `=`): one clear error instead of argparse's `unrecognized arguments: VALUE`."""
    for i, arg in enumerate(argv[:-2]):
        key, value = argv[i + 1], argv[i + 2]
        if arg == "--set" and "=" not in key and not key.startswith("-") and not value.startswith("-"):
            print(f"error: --set {key!r} {value!r}: expected KEY=VALUE as one word (no spaces around '='), "
                  f"e.g. --set {key}={value}", file=sys.stderr)
            sys.exit(2)


def _cmd_search(args):
    try:
        config = config_module.load_config(args.config, args.overrides)
        run.run_search(config, overwrite=args.overwrite, retrain_final=args.retrain_final)
    except (config_module.ConfigError, datasets.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except run.RunError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2 if "search.directory" in str(e) else 1
    return 0


def build_parser():
    """The argument parser of `keras-nas-plus` (subcommands register here)."""
    parser = _Parser(prog="keras-nas-plus", description="Neural Architecture Search for Keras.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    commands = {}
    _add_search_parser(subparsers)
    commands["search"] = _cmd_search

    report.add_parser(subparsers)
    commands["report"] = report.run
    benchmark_cli.add_parser(subparsers)
    commands["benchmark"] = benchmark_cli.run
    # fidelity (issue 7)

    fidelity_cli.add_parser(subparsers)
    commands["fidelity-report"] = fidelity_cli.run
    return parser, commands


def main(argv=None):
    """Entry point of the `keras-nas-plus` console script."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    parser, commands = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "search":
        _check_set_arguments(argv[1:])
    args = parser.parse_args(argv)
    return commands[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
