"""`python -m crmsync.testing.fake_cli …`: the `crmsync` command with only the fake connector installed, for tests
that need a real process (signals, two schedulers)."""

from __future__ import annotations

from crmsync import registry
from crmsync.testing.fake import fake_discovery


def main() -> None:
    registry.discover = fake_discovery
    from crmsync import cli

    setattr(cli, "discover", fake_discovery)  # noqa: B010 (cli imports discover by name)
    cli.main()


if __name__ == "__main__":
    main()
