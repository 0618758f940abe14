"""What the emulated region offers: VM sizes, platform images, disk performance tiers.

Figures are Azure's published ones for these sizes/tiers (learn.microsoft.com VM size and
managed-disk pages); only the handful the collection and its tests use are listed.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class VmSize:
    name: str
    family: str
    vcpus: int
    memory_gb: float
    max_data_disks: int
    premium_io: bool
    hyper_v_generations: str  # "V1,V2"
    max_nics: int
    temp_disk_mb: int
    acus: int = 160
    trusted_launch: bool = True

    @property
    def size(self) -> str:
        return self.name.split("_", 1)[1]


VM_SIZES: dict[str, VmSize] = {s.name.lower(): s for s in [
    VmSize("Standard_B2s", "standardBSFamily", 2, 4, 4, True, "V1,V2", 3, 8192, acus=0),
    VmSize("Standard_B2ms", "standardBSFamily", 2, 8, 4, True, "V1,V2", 3, 16384, acus=0),
    VmSize("Standard_D2_v2", "standardDv2Family", 2, 7, 8, False, "V1", 2, 102400, acus=210, trusted_launch=False),
    VmSize("Standard_DS1_v2", "standardDSv2Family", 1, 3.5, 4, True, "V1,V2", 2, 7168, acus=210),
    VmSize("Standard_DS2_v2", "standardDSv2Family", 2, 7, 8, True, "V1,V2", 2, 14336, acus=210),
    VmSize("Standard_D2s_v3", "standardDSv3Family", 2, 8, 4, True, "V1,V2", 2, 16384),
    VmSize("Standard_D4s_v3", "standardDSv3Family", 4, 16, 8, True, "V1,V2", 2, 32768),
    VmSize("Standard_D2s_v5", "standardDSv5Family", 2, 8, 4, True, "V1,V2", 2, 0, acus=195),
    VmSize("Standard_D2as_v5", "standardDASv5Family", 2, 8, 4, True, "V1,V2", 2, 0, acus=230),
]}


@dataclass(frozen=True)
class PlatformImage:
    publisher: str
    offer: str
    sku: str
    os_type: str
    hyper_v_generation: str
    version: str  # the one "latest" resolves to
    os_name: str  # instance view osName
    os_version: str  # instance view osVersion
    disk_size_gb: int

    def matches(self, ref: dict) -> bool:
        return (str(ref.get("publisher", "")).lower() == self.publisher.lower()
                and str(ref.get("offer", "")).lower() == self.offer.lower()
                and str(ref.get("sku", "")).lower() == self.sku.lower()
                and str(ref.get("version", "latest")).lower() in ("latest", self.version.lower()))

    def urn(self) -> str:
        return f"{self.publisher}:{self.offer}:{self.sku}:{self.version}"


def _windows(sku: str, gen: str, build: str, name: str) -> PlatformImage:
    return PlatformImage("MicrosoftWindowsServer", "WindowsServer", sku, "Windows", gen, build,
                         name, "Microsoft Windows NT 10.0." + build.split(".", 1)[0] + ".0", 127)


PLATFORM_IMAGES: list[PlatformImage] = [
    _windows("2022-datacenter", "V1", "20348.2966.241205", "Windows Server 2022 Datacenter"),
    _windows("2022-datacenter-g2", "V2", "20348.2966.241205", "Windows Server 2022 Datacenter"),
    _windows("2022-datacenter-azure-edition", "V2", "20348.2966.241205", "Windows Server 2022 Datacenter Azure Edition"),
    _windows("2022-datacenter-core-g2", "V2", "20348.2966.241205", "Windows Server 2022 Datacenter"),
    _windows("2019-datacenter", "V1", "17763.6659.241205", "Windows Server 2019 Datacenter"),
    _windows("2019-datacenter-gensecond", "V2", "17763.6659.241205", "Windows Server 2019 Datacenter"),
    _windows("2016-datacenter", "V1", "14393.7606.241205", "Windows Server 2016 Datacenter"),
    _windows("2025-datacenter-azure-edition", "V2", "26100.2605.241207", "Windows Server 2025 Datacenter Azure Edition"),
    PlatformImage("Canonical", "0001-com-ubuntu-server-jammy", "22_04-lts-gen2", "Linux", "V2", "22.04.202411190",
                  "ubuntu", "22.04", 30),
    PlatformImage("Canonical", "ubuntu-24_04-lts", "server", "Linux", "V2", "24.04.202411030", "ubuntu", "24.04", 30),
]


def find_image(ref: dict) -> PlatformImage | None:
    return next((image for image in PLATFORM_IMAGES if image.matches(ref)), None)


@dataclass(frozen=True)
class DiskTier:
    name: str  # "P10"
    max_gb: int
    iops: int
    mbps: int


@dataclass(frozen=True)
class DiskSku:
    name: str
    tier: str  # sku.tier: Premium | Standard
    performance_tiers: list[DiskTier] = field(default_factory=list)
    zone_redundant: bool = False


_PREMIUM = [DiskTier("P1", 4, 120, 25), DiskTier("P2", 8, 120, 25), DiskTier("P3", 16, 120, 25),
            DiskTier("P4", 32, 120, 25), DiskTier("P6", 64, 240, 50), DiskTier("P10", 128, 500, 100),
            DiskTier("P15", 256, 1100, 125), DiskTier("P20", 512, 2300, 150), DiskTier("P30", 1024, 5000, 200),
            DiskTier("P40", 2048, 7500, 250), DiskTier("P50", 4096, 7500, 250)]
_STANDARD_SSD = [DiskTier(f"E{n}", gb, 500, 60 if gb <= 128 else 100)
                 for n, gb in [(1, 4), (2, 8), (3, 16), (4, 32), (6, 64), (10, 128), (15, 256), (20, 512), (30, 1024)]]
_STANDARD_HDD = [DiskTier(f"S{n}", gb, 500, 60) for n, gb in [(4, 32), (6, 64), (10, 128), (15, 256), (20, 512),
                                                              (30, 1024), (40, 2048), (50, 4096)]]

DISK_SKUS: dict[str, DiskSku] = {s.name.lower(): s for s in [
    DiskSku("Standard_LRS", "Standard", _STANDARD_HDD),
    DiskSku("StandardSSD_LRS", "Standard", _STANDARD_SSD),
    DiskSku("StandardSSD_ZRS", "Standard", _STANDARD_SSD, zone_redundant=True),
    DiskSku("Premium_LRS", "Premium", _PREMIUM),
    DiskSku("Premium_ZRS", "Premium", _PREMIUM, zone_redundant=True),
    DiskSku("PremiumV2_LRS", "Premium"),
    DiskSku("UltraSSD_LRS", "Ultra"),
]}


def disk_sku(name: str) -> DiskSku | None:
    return DISK_SKUS.get(str(name).lower())


def performance(sku: DiskSku, size_gb: int) -> DiskTier:
    """The tier a disk of this size lands in (IOPS/MBps); PremiumV2/Ultra use their baseline."""
    for tier in sku.performance_tiers:
        if size_gb <= tier.max_gb:
            return tier
    if sku.performance_tiers:
        return sku.performance_tiers[-1]
    return DiskTier("", size_gb, 3000, 125)
