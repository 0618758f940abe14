"""The simulated Windows repair VM: machine (disks, volumes, WinRM), shell (what WinRM runs) and
the collection's scripts implemented against real disk images (see ARCHITECTURE.md)."""
