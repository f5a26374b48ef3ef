"""The deployment files of `deploy/`: systemd units that parse and run commands that exist, and
examples that match the shipped settings. No systemd is needed (`systemd-analyze verify` is
left to the operator: it is not on every CI machine).

Each `ExecStart` is expanded as systemd would (`%i`, `$VAR` split into words, `${VAR}` one
word, with the unit's `Environment=` and the example of each `EnvironmentFile=`) and parsed
by the parser of the program it runs: `intake.cli.main.build_parser()` or Dramatiq's own, so
a renamed command or option breaks this test. A unit written for a command still to come
(`PENDING`) is expected to fail that check until the command exists.
"""

from __future__ import annotations

import argparse
import configparser
import copy
import importlib.util
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dramatiq.cli import make_argument_parser as dramatiq_parser

from intake import settings as settings_module
from intake.cli.main import build_parser
from outbound.jobs import ACK_QUEUE

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "deploy" / "systemd"
MULTI = ROOT / "deploy" / "multi-machine"
VENV_BIN = "/opt/intake/.venv/bin/"
ETC = "/etc/intake/"
UNITS = sorted(p for p in SYSTEMD.iterdir() if p.suffix in (".service", ".target", ".timer"))
SERVICES = [p for p in UNITS if p.suffix == ".service"]
SYSTEM_UNITS = {"multi-user.target", "network-online.target"}
HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "ReadWritePaths": "/var/lib/intake",
}

# Units written for commands that do not exist yet, by file name, with the reason: their
# ExecStart check is expected to fail (`UnknownCommand`) until the command exists; then it
# fails as XPASS (strict): drop the entry here and the NOT YET AVAILABLE note of the unit.
# Empty now: `intake http` and `intake poll --all`, which the units were written ahead of,
# exist. E.g. "intake-http.service": "`intake http` is not a command yet".
PENDING: dict[str, str] = {}
PENDING_NOTE = "NOT YET AVAILABLE"


class UnknownCommand(AssertionError):
    """The command line of an ExecStart is refused by the parser of its program."""


# --- reading the files ---------------------------------------------------------------------


class _Repeated(dict):
    """A section of `configparser` that keeps every value of a repeated key, as systemd does
    (`EnvironmentFile=` twice): while reading, the parser stores each value as a list."""

    def __setitem__(self, key: str, value: Any) -> None:
        if isinstance(value, list) and isinstance(self.get(key), list):
            self[key].extend(value)
        else:
            super().__setitem__(key, value)


def parse_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Section → key → every value given, in order."""
    parser = configparser.ConfigParser(
        strict=False,
        interpolation=None,
        dict_type=_Repeated,
        empty_lines_in_values=False,
        default_section="\x00none",  # systemd has no [DEFAULT]
    )
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return {
        section: {key: value.split("\n") for key, value in parser.items(section, raw=True)}
        for section in parser.sections()
    }


def one(values: dict[str, list[str]], key: str, default: str = "") -> str:
    """The value that counts: the last one given."""
    return values.get(key, [default])[-1]


def read_env(path: Path) -> dict[str, str]:
    """An `EnvironmentFile=`: NAME=value lines, comments, optional quotes."""
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        name, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Za-z_]\w*", name), f"{path.name}: bad line {line!r}"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        env[name] = value
    return env


def example_of(env_file: str) -> Path:
    """The example in deploy/systemd of a file installed as /etc/intake/NAME."""
    assert env_file.startswith(ETC), f"{env_file}: expected under {ETC}"
    return SYSTEMD / (env_file.removeprefix(ETC) + ".example")


def shipped_settings() -> settings_module.Settings:
    return settings_module.load(settings_module.default_path())


def declared_queues() -> set[str]:
    """The queues the shipped settings declare: `ack` and one `unit.<code>` per unit."""
    return {ACK_QUEUE} | {unit.queue for unit in shipped_settings().unit}


def worker_groups() -> dict[str, list[str]]:
    """Queue group → its queues, from deploy/systemd/workers-GROUP.env.example."""
    return {
        path.name.removeprefix("workers-").removesuffix(".env.example"): read_env(path)
        .get("INTAKE_QUEUES", "")
        .split()
        for path in sorted(SYSTEMD.glob("workers-*.env.example"))
    }


def instances_of(path: Path) -> list[str]:
    """The instances a unit is checked with: none for a plain unit, else those it is meant for."""
    if "@" not in path.name:
        return [""]
    if path.name == "intake-poll@.service":
        return [box.name for box in shipped_settings().mailbox]
    if path.name == "intake-workers@.service":
        return list(worker_groups())
    raise AssertionError(f"{path.name}: a template this test has no instances for")


def specifiers(value: str, instance: str) -> str:
    value = value.replace("%i", instance).replace("%I", instance)
    assert "%" not in value, f"{value!r}: a specifier this test does not know"
    return value


def environment_of(service: dict[str, list[str]], instance: str) -> dict[str, str]:
    """What the unit's process sees: its Environment= and the examples of its files."""
    env: dict[str, str] = {}
    for env_file in service.get("EnvironmentFile", []):
        env.update(read_env(example_of(specifiers(env_file, instance).lstrip("-"))))
    for value in service.get("Environment", []):
        for assignment in shlex.split(value):
            name, _, setting = assignment.partition("=")
            env[name] = setting
    return env


def command_line(exec_start: str, instance: str, env: dict[str, str]) -> list[str]:
    """ExecStart as systemd runs it: prefixes off, `%i`, `$VAR` split, `${VAR}` one word."""
    words = shlex.split(specifiers(exec_start, instance))
    words[0] = words[0].lstrip("-@:+!")
    argv: list[str] = []
    for word in words:
        whole = re.fullmatch(r"\$(\w+)", word)
        if whole:
            argv.extend(env.get(whole[1], "").split())
        else:
            argv.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m[1], ""), word))
    return argv


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    try:
        return parser.parse_args(argv)
    except SystemExit:
        raise UnknownCommand(f"{parser.prog} {shlex.join(argv)}: refused by its parser") from None


def timer_units() -> set[str]:
    """The services their timers start (those have no [Install] of their own)."""
    found = set()
    for path in UNITS:
        if path.suffix == ".timer":
            found.add(one(parse_unit(path).get("Timer", {}), "Unit", path.stem + ".service"))
    return found


# --- every unit ----------------------------------------------------------------------------


def test_the_units_are_there() -> None:
    names = {p.name for p in UNITS}
    assert {
        "intake.service",
        "intake.target",
        "intake-http.service",
        "intake-pollers.service",
        "intake-poll@.service",
        "intake-scheduler.service",
        "intake-workers@.service",
    } <= names
    assert set(PENDING) <= names, "PENDING names a unit that is gone"


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_unit_parses(path: Path) -> None:
    unit = parse_unit(path)
    assert set(unit) <= {"Unit", "Service", "Install", "Timer"}, sorted(unit)
    assert one(unit.get("Unit", {}), "Description"), "no Description="
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path.name}:{number}"
        assert not line.endswith("\\"), f"{where}: a continuation this test cannot read"
        assert line == line.lstrip(), f"{where}: indented (configparser would join it)"
        if not line.startswith(("#", ";", "[")) and line:
            assert "=" in line, f"{where}: not KEY=value"
            assert " #" not in line, f"{where}: systemd has no comments after a value"


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_units_name_units_that_exist(path: Path) -> None:
    unit = parse_unit(path)
    named = [
        *unit.get("Unit", {}).get("PartOf", []),
        *unit.get("Unit", {}).get("Conflicts", []),
        *unit.get("Install", {}).get("WantedBy", []),
        *unit.get("Timer", {}).get("Unit", []),
    ]
    for value in named:
        for name in value.split():
            assert name in SYSTEM_UNITS or (SYSTEMD / name).is_file(), f"{name}: no such unit"


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_service_runs_as_intake_hardened(path: Path) -> None:
    service = parse_unit(path)["Service"]
    assert one(service, "Restart") == "on-failure"
    assert one(service, "User") == "intake" and one(service, "Group") == "intake"
    assert f"{ETC}intake.env" in service.get("EnvironmentFile", [])
    assert "INTAKE_CONFIG=/etc/intake/settings.toml" in service.get("Environment", [])
    assert one(service, "WorkingDirectory") == "/var/lib/intake"
    for key, value in HARDENING.items():
        assert one(service, key) == value, f"{key}={value}"
    [exec_start] = service.get("ExecStart", [])
    assert exec_start.lstrip("-@:+!").startswith(VENV_BIN), exec_start


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_service_belongs_where_it_should(path: Path) -> None:
    unit = parse_unit(path)
    wanted_by = unit.get("Install", {}).get("WantedBy", [])
    if path.name == "intake.service":  # the single-machine case: instead of the target
        assert wanted_by == ["multi-user.target"]
        assert "intake.target" in unit["Unit"].get("Conflicts", [])
        return
    assert "intake.target" in unit["Unit"].get("PartOf", [])
    if path.name in timer_units():
        assert "Install" not in unit, "started by its timer: enable the timer, not the service"
    else:
        assert wanted_by == ["intake.target"]


def test_target_and_timers_are_installed() -> None:
    target = parse_unit(SYSTEMD / "intake.target")
    assert target["Install"]["WantedBy"] == ["multi-user.target"]
    for path in UNITS:
        if path.suffix == ".timer":
            unit = parse_unit(path)
            assert unit["Install"]["WantedBy"] == ["intake.target"]
            assert "intake.target" in unit["Unit"].get("PartOf", [])


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_pending_units_say_so(path: Path) -> None:
    assert (PENDING_NOTE in path.read_text(encoding="utf-8")) == (path.name in PENDING)


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_environment_files_have_examples(path: Path) -> None:
    service = parse_unit(path)["Service"]
    for instance in instances_of(path):
        for env_file in service.get("EnvironmentFile", []):
            if not env_file.startswith("-"):  # a required file: its example must exist
                assert example_of(specifiers(env_file, instance)).is_file(), env_file


# --- the commands they run -----------------------------------------------------------------


def exec_cases() -> Iterator[Any]:
    for path in SERVICES:
        marks = []
        if path.name in PENDING:
            marks = [
                pytest.mark.xfail(strict=True, raises=UnknownCommand, reason=PENDING[path.name])
            ]
        for instance in instances_of(path):
            name = path.name.replace("@", f"@{instance}") if instance else path.name
            yield pytest.param(path, instance, id=name, marks=marks)


@pytest.mark.parametrize(("path", "instance"), list(exec_cases()))
def test_exec_start_runs_a_command_that_exists(path: Path, instance: str) -> None:
    service = parse_unit(path)["Service"]
    [exec_start] = service["ExecStart"]
    argv = command_line(exec_start, instance, environment_of(service, instance))
    program = argv[0].removeprefix(VENV_BIN)
    if program == "intake":
        args = parse(build_parser(), argv[1:])
        if one(service, "Type") != "oneshot":  # a daemon that ends is not restarted (exit 0)
            assert not getattr(args, "once", False), "a daemon must not run --once"
    elif program == "dramatiq":
        args = parse(dramatiq_parser(), argv[1:])
        assert args.broker == "workers" and not args.modules, "the workers module, alone"
        assert importlib.util.find_spec("workers") is not None, "workers.py is not importable"
        assert args.queues, f"{instance}: no queues (Dramatiq would consume every queue)"
        assert set(args.queues) <= declared_queues(), f"unknown queues: {args.queues}"
    else:
        pytest.fail(f"{argv[0]}: neither intake nor dramatiq")


def test_the_check_refuses_what_systemd_would_not_run() -> None:
    """The check above is not vacuous: an unknown command or option is refused, and the
    queues of `$INTAKE_QUEUES` become one argument each (of `${INTAKE_QUEUES}`, one in all)."""
    with pytest.raises(UnknownCommand):
        parse(build_parser(), ["no-such-command"])
    with pytest.raises(UnknownCommand):
        parse(build_parser(), ["scheduler", "--no-such-option"])
    env = {"INTAKE_QUEUES": "unit.ssl_operations ack"}
    split = command_line("/bin/dramatiq workers --queues $INTAKE_QUEUES", "", env)
    assert split[-3:] == ["--queues", "unit.ssl_operations", "ack"]
    whole = command_line("-/bin/dramatiq --queues ${INTAKE_QUEUES} %i", "ssl", env)
    assert whole == ["/bin/dramatiq", "--queues", "unit.ssl_operations ack", "ssl"]


def test_intake_is_the_cli_parsed_here() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["intake"] == "intake.cli.main:main"
    assert "workers" in project["tool"]["setuptools"]["py-modules"]


# --- the examples --------------------------------------------------------------------------


def _secret_names(table: Any) -> Iterator[str]:
    """The values of every `*_env` key of a parsed settings file."""
    if isinstance(table, dict):
        for key, value in table.items():
            if key.endswith("_env") and isinstance(value, str) and value:
                yield value
            else:
                yield from _secret_names(value)
    elif isinstance(table, list):
        for item in table:
            yield from _secret_names(item)


def test_secrets_example_names_every_secret_of_the_settings() -> None:
    shipped = tomllib.loads(settings_module.default_path().read_text(encoding="utf-8"))
    example = (SYSTEMD / "intake.env.example").read_text(encoding="utf-8")
    names = set(_secret_names(shipped))
    assert names
    for name in sorted(names):
        assert re.search(rf"^#?\s*{name}=", example, re.M), f"{name}: not in intake.env.example"


def test_worker_groups_cover_every_queue() -> None:
    groups = worker_groups()
    assert "ssl" in groups and groups["ssl"] == ["unit.ssl_operations", "ack"]
    declared = declared_queues()
    for group, queues in groups.items():
        assert queues, f"workers-{group}: INTAKE_QUEUES is empty (every queue)"
        assert set(queues) <= declared, f"workers-{group}: unknown {set(queues) - declared}"
    covered = {queue for queues in groups.values() for queue in queues}
    assert covered == declared, f"no worker group consumes {declared - covered}"


def test_multi_machine_settings_change_only_shipped_keys_and_load() -> None:
    shipped = tomllib.loads(settings_module.default_path().read_text(encoding="utf-8"))
    example = tomllib.loads((MULTI / "settings.example.toml").read_text(encoding="utf-8"))
    merged = copy.deepcopy(shipped)
    for table, values in example.items():
        assert isinstance(shipped.get(table), dict), f"[{table}]: not a table of the shipped file"
        for key, value in values.items():
            assert key in shipped[table], f"{table}.{key}: not a shipped key"
            assert shipped[table][key] != value, f"{table}.{key}: the shipped value already"
        merged[table].update(values)
    settings = settings_module.from_mapping(merged, source="(shipped + multi-machine example)")
    assert settings.store.url == "postgresql+psycopg://intake@db/intake"
    assert settings.broker.url == "redis://redis:6379/0"
    assert not settings.store.auto_migrate
    assert settings.unit, "the units of the shipped file"


def test_multi_machine_readme_names_real_files() -> None:
    text = (MULTI / "README.md").read_text(encoding="utf-8")
    units = set(re.findall(r"\bintake[\w@-]*\.(?:service|target|timer)\b", text))
    units |= {f"{name}.service" for name in re.findall(r"`(intake-[\w-]+(?:@[\w-]*)?)`", text)}
    assert units
    for name in units:
        template = re.sub(r"@[\w-]+", "@", name)
        assert (SYSTEMD / template).is_file(), f"README names {name}: no such unit"
    for name in re.findall(r"deploy/systemd/([\w.@-]+)", text):
        assert (SYSTEMD / name).is_file(), f"no deploy/systemd/{name}"
    for group in re.findall(r"workers-(\w+)\.env", text):
        assert group in worker_groups(), f"README names workers-{group}.env: no example"
