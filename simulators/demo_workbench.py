"""After ``hub demo``'s scripted cases: keep the hub up with the clerk's workbench (Ctrl-C ends).

A demo clerk of the demo village is created and its sign-in printed with the address, so a
newcomer can click through a case end to end against the same simulators (which now and then
ask for more materials, as real departments do).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hub.accounts.clerks import Accounts
from hub.accounts.passwords import new_password
from hub.cli.serve import wait_for_signal
from simulators.demo import VILLAGE


def serve_workbench(rt: Any, url: str, data_dir: Path | None) -> None:
    password = new_password()
    clerk, _ = Accounts(rt.store).add(VILLAGE, "演示经办人", password)
    print(f"\nThe clerk's workbench is up: {url}/", flush=True)
    print(f"  sign in as {clerk.login} with password {password} (河西镇民主村)")
    print("  find an item (try “bx” or “生娃”), fill the form, attach any image files as scans,")
    print("  submit, and follow the case on 案件; some departments ask for more materials.")
    from hub.town.staff import TownStaff

    for name, role, zh in (("演示审查员", "reviewer", "审查员"), ("演示负责人", "approver", "负责人")):
        pw = new_password()
        staff, _ = Accounts(rt.store).add("513401101", name, pw)
        TownStaff(rt.store).grant(staff.id, staff.login, "513401101", [role])
        print(f"  河西镇{zh}: sign in as {staff.login} with password {pw} (try 我要修房子)")
    if data_dir is None:
        print("  the data is temporary: run `hub demo --data-dir DIR` to keep it.")
    print("Press Ctrl-C to stop.", flush=True)
    stop = threading.Event()
    wait_for_signal(stop)
