"""The regions CLB serves, and the rule that finance regions need their own endpoint.

Finance (FSI) regions are isolated: a call for one must go to ``clb.<region>.tencentcloudapi.com``;
the nearby-access host is documented as valid only for the other regions (digest §1.1, §2).
Hosts that are not ``*.tencentcloudapi.com`` (a local endpoint such as 127.0.0.1:PORT) are
ours to define, so any region may be asked there.
"""

from __future__ import annotations

from openclb import errors

FINANCE_REGIONS = frozenset({"ap-shanghai-fsi", "ap-shenzhen-fsi", "ap-beijing-fsi"})

REGIONS = frozenset(
    {
        "ap-bangkok", "ap-beijing", "ap-chengdu", "ap-chongqing", "ap-guangzhou", "ap-hongkong",
        "ap-jakarta", "ap-mumbai", "ap-nanjing", "ap-seoul", "ap-shanghai", "ap-singapore",
        "ap-taipei", "ap-tokyo", "eu-frankfurt", "eu-moscow", "na-ashburn", "na-siliconvalley",
        "na-toronto", "sa-saopaulo", "me-saudi-arabia", "ap-shenzhen", "ap-tianjin", "ap-wuhan",
        "ap-qingyuan", "ap-hangzhou-ec", "ap-fuzhou-ec", "ap-wuhan-ec", "ap-changsha-ec",
        "ap-jinan-ec", "ap-hefei-ec", "ap-shenyang-ec", "ap-xian-ec", "ap-xibei-ec",
        "ap-zhengzhou-ec", "ap-guangzhou-open", "ap-shanghai-adc",
    }
) | FINANCE_REGIONS

PUBLIC_API_SUFFIX = ".tencentcloudapi.com"


def bare_host(host: str) -> str:
    """Host header without scheme or port, lower-cased: what the client aimed at."""
    value = host.strip().lower()
    for scheme in ("http://", "https://"):
        if value.startswith(scheme):
            value = value[len(scheme):]
    value = value.split("/", 1)[0]
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def check_region(region: str, host: str) -> None:
    """check_region: Region must be a CLB region; a finance region only via its own host."""
    if not region:
        raise errors.MissingParameter("The request is missing a required parameter `Region`.")
    if region not in REGIONS:
        raise errors.UnsupportedRegion(f"The region `{region}` is not supported by this API.")
    name = bare_host(host)
    if region in FINANCE_REGIONS and name.endswith(PUBLIC_API_SUFFIX) and name != f"clb.{region}{PUBLIC_API_SUFFIX}":
        raise errors.UnsupportedRegion(
            f"The finance region `{region}` must be accessed through `clb.{region}{PUBLIC_API_SUFFIX}`."
        )


# The regions of the Chinese mainland, where CLBs may also take a single carrier's addresses
# (CMCC, CUCC, CTCC) besides BGP (DescribeResources' ``isp`` filter); elsewhere BGP only.
MAINLAND_REGIONS = frozenset(
    {
        "ap-beijing", "ap-chengdu", "ap-chongqing", "ap-guangzhou", "ap-nanjing", "ap-shanghai",
        "ap-shenzhen", "ap-tianjin", "ap-wuhan", "ap-qingyuan",
    }
) | FINANCE_REGIONS


def zones_of(region: str) -> tuple[str, ...]:
    """The availability zones openclb offers in a region: one, the MasterZone every CLB shows."""
    return (f"{region}-1",) if region in REGIONS else ()


def isps_of(region: str) -> tuple[str, ...]:
    """The public-network ISPs of a region (BGP everywhere; the three carriers on the mainland)."""
    if region not in REGIONS:
        return ()
    return ("BGP", "CMCC", "CTCC", "CUCC") if region in MAINLAND_REGIONS else ("BGP",)
