"""What verify asks of every image, as shell for the mounted busybox and pure judges of its answers.

The scripts print `key=value` lines; the judges turn them into checks and
are unit-tested without an engine. Everything runs with the static busybox
of the verify toolbox, so images without a shell (go:static) get the same
checks as the others.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from factory import model

TOOLBOX_MOUNT = "/.factory-verify"
BB = f"{TOOLBOX_MOUNT}/busybox"
UNAME = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "arm": "armv7l",
    "386": "i686",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
ARBITRARY_USER = "12345:0"  # how OpenShift runs images: a random uid in the root group
STOP_GRACE = 10  # docker stop's kill timeout for the SIGTERM check; tini must end the container well before
STOP_LIMIT = 3.0  # seconds: longer means SIGTERM did not end PID 1's child and the kill did
CMD_MARKER = "factory-cmd-override"  # what the command given in place of CMD prints
CMD_EXIT = 7  # and how it exits: a code no shell or tini uses for itself, so it must come through PID 1
# Shadow password fields that hold no hash (locked, disabled, none).
NO_HASH = ("*", "!", "!*", "!!", "")


@dataclass
class Check:
    """One check of one image on one platform."""

    name: str
    passed: bool
    detail: str = ""


def facts(output: str) -> dict[str, str]:
    """The `key=value` lines of a script's output (later keys win)."""
    return dict(line.split("=", 1) for line in output.splitlines() if "=" in line)


def _echo(key: str, command: str) -> str:
    return f'echo "{key}=$({command})"'


# -- as the image's own user ---------------------------------------------------------------


def identity_script() -> str:
    """Architecture, account, PID 1 and HOME, as seen by the image's default user."""
    return "; ".join(
        [
            _echo("arch", f"{BB} uname -m"),
            _echo("uid", f"{BB} id -u"),
            _echo("gid", f"{BB} id -g"),
            _echo("group", f"{BB} grep :x:$({BB} id -g): /etc/group | {BB} cut -d: -f1"),
            _echo("pid1", f"{BB} cat /proc/1/comm"),
            _echo("pid1exe", f"{BB} readlink /proc/1/exe"),
            'echo "home=$HOME"',
            f'if {BB} test -d "$HOME" && {BB} test -w "$HOME"; then echo home_writable=yes; '
            "else echo home_writable=no; fi",
            'echo "lang=$LANG"',
        ]
    )


def judge_identity(output: str, arch: str, user: model.User) -> list[Check]:
    """Architecture, numeric non-root user with its own group, tini as PID 1, a writable HOME."""
    found = facts(output)
    expected_arch = UNAME.get(arch, arch)
    pid1 = found.get("pid1", "")
    return [
        Check(
            "architecture",
            found.get("arch") == expected_arch,
            f"uname -m: {found.get('arch')!r}, expected {expected_arch!r}",
        ),
        Check(
            "non-root user",
            found.get("uid") == str(user.uid) and found.get("gid") == str(user.gid),
            f"uid={found.get('uid')} gid={found.get('gid')}, expected {user.uid}:{user.gid}",
        ),
        Check("tini is PID 1", pid1 == "tini" or found.get("pid1exe", "").endswith("/tini"), f"/proc/1/comm: {pid1!r}"),
        Check(
            "own group",
            found.get("group") == user.group,
            f"gid {found.get('gid')} is group {found.get('group')!r}, expected {user.group!r}",
        ),
        Check(
            "HOME writable",
            found.get("home") == user.home and found.get("home_writable") == "yes",
            f"HOME={found.get('home')!r} (expected {user.home}), writable: {found.get('home_writable')}",
        ),
    ]


def judge_environment(output: str, env: Mapping[str, str]) -> list[Check]:
    """LANG as os.yaml declares it (images built on the OS base inherit it)."""
    if "LANG" not in env:
        return []
    found = facts(output).get("lang")
    return [Check("LANG", found == env["LANG"], f"LANG={found!r}, expected {env['LANG']!r}")]


# -- PID 1 -----------------------------------------------------------------------------------


def reaping_script() -> str:
    """Orphan a child (its parent exits at once), wait past its end, count zombies left."""
    return "; ".join(
        [
            f'{BB} sh -c "{BB} sleep 1 & exit 0"',
            f"{BB} sleep 3",
            "z=0",
            f"for s in /proc/[0-9]*/stat; do st=$({BB} cut -d' ' -f3 $s 2>/dev/null); "
            'if [ "$st" = Z ]; then z=$((z+1)); fi; done',
            'echo "zombies=$z"',
        ]
    )


def judge_reaping(output: str) -> Check:
    zombies = facts(output).get("zombies")
    return Check("orphans reaped", zombies == "0", f"{zombies} zombie process(es) left after the orphan exited")


def cmd_override_script() -> str:
    """Given in place of the image's CMD: it must run behind the ENTRYPOINT and its exit code come back."""
    return f"echo {CMD_MARKER}; exit {CMD_EXIT}"


def judge_cmd_override(output: str, exit_code: int) -> Check:
    """`docker run IMAGE COMMAND` runs COMMAND (not swallowed by the ENTRYPOINT) and returns its exit code."""
    ran = CMD_MARKER in output.split()
    return Check(
        "CMD can be overridden",
        ran and exit_code == CMD_EXIT,
        f"a command given to docker run: {'ran' if ran else 'did not run'}, exit {exit_code} (expected {CMD_EXIT})",
    )


def judge_stop(seconds: float, exit_code: int) -> Check:
    """`docker stop` must end the container through SIGTERM, well within the kill timeout."""
    passed = seconds < STOP_LIMIT
    how = "SIGTERM ended it" if passed else f"not ended by SIGTERM: killed after the {STOP_GRACE} s timeout"
    return Check("stops on SIGTERM", passed, f"docker stop took {seconds:.2f} s (exit {exit_code}): {how}")


# -- restricted runs ---------------------------------------------------------------------------


def read_only_script() -> str:
    """Under --read-only with a tmpfs /tmp: /tmp is writable, the root filesystem is not."""
    return (
        f"if {BB} touch /tmp/.factory-probe; then echo tmp=yes; else echo tmp=no; fi; "
        f"if {BB} touch /.factory-probe 2>/dev/null; then echo root=yes; else echo root=no; fi"
    )


def judge_read_only(output: str) -> Check:
    found = facts(output)
    passed = found.get("tmp") == "yes" and found.get("root") == "no"
    return Check("read-only root", passed, f"tmpfs /tmp writable: {found.get('tmp')}, / writable: {found.get('root')}")


# -- hygiene, as root ----------------------------------------------------------------------------


def hygiene_script() -> str:
    """Left-overs a base image must not ship: apt lists and .debs, password hashes, setuid/setgid files."""
    return "; ".join(
        [
            _echo(
                "lists",
                f"{BB} ls -A /var/lib/apt/lists 2>/dev/null | {BB} grep -v -x -e lock -e partial -e auxfiles | "
                f"{BB} tr '\\n' ' '",
            ),
            _echo("debs", f"{BB} find /var/cache/apt -name '*.deb' -o -name '*.bin' 2>/dev/null | {BB} tr '\\n' ' '"),
            _echo(
                "hashes",
                f"{BB} awk -F: '$2 !~ /^(\\*|!|!\\*|!!|)$/ {{print $1}}' /etc/shadow 2>/dev/null | {BB} tr '\\n' ' '",
            ),
            _echo(
                "setuid",
                f"{BB} find / -xdev -type f \\( -perm -4000 -o -perm -2000 \\) 2>/dev/null | {BB} sort | "
                f"{BB} tr '\\n' ' '",
            ),
            _echo("tz", f"{BB} cat /etc/timezone 2>/dev/null"),
        ]
    )


def judge_hygiene(output: str, allowed_setuid: Sequence[str], timezone: str | None) -> list[Check]:
    """No apt lists or package caches, no password hashes, setuid/setgid only as allowed, the timezone."""
    found = facts(output)
    lists, debs = found.get("lists", "").split(), found.get("debs", "").split()
    hashes = found.get("hashes", "").split()
    extra = sorted(set(found.get("setuid", "").split()) - set(allowed_setuid))
    checks = [
        Check("no apt lists", not lists, f"/var/lib/apt/lists holds {' '.join(lists[:5]) or 'nothing'}"),
        Check("no package caches", not debs, f"/var/cache/apt holds {' '.join(debs[:5]) or 'nothing'}"),
        Check("no password hashes", not hashes, f"accounts with a hash in /etc/shadow: {' '.join(hashes) or 'none'}"),
        Check(
            "setuid/setgid allow-list",
            not extra,
            f"beyond os.yaml setuid_allowed: {' '.join(extra[:10])}" if extra else "only allowed ones",
        ),
    ]
    if timezone is not None:
        tz = found.get("tz", "")
        checks.append(Check("timezone", tz == timezone, f"/etc/timezone: {tz!r}, expected {timezone!r}"))
    return checks


def shown(command: str | Sequence[str]) -> str:
    """A verify command as people read it."""
    return command if isinstance(command, str) else shlex.join(command)
