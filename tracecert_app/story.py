"""The demo's cast and records: the regulators, labs and enterprises of the story (see :mod:`tracecert_app.demo`),
and every certificate record it issues, dated on the day of seeding."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from tracecert.certificate.canonical import lab_id as derive_lab_id
from tracecert.certificate.canonical import to_hex
from tracecert.certificate.model import is_valid_usci
from tracecert.chain.types import Activity, LabKind

__all__ = ["LABS", "PARENTS", "REGULATORS", "STANDARDS", "TITLES", "Story", "usci"]


def usci(first17: str) -> str:
    """Complete 17 characters of a unified social credit code with its GB 32100-2015 check character."""
    for check in "0123456789ABCDEFGHJKLMNPQRTUWXY":
        if is_valid_usci(first17 + check):
            return first17 + check
    raise ValueError(f"{first17!r} cannot start a unified social credit code")


@dataclass(frozen=True)
class Regulator:
    jurisdiction: int
    name: str
    parent_role: str

    @property
    def role(self) -> str:
        return f"regulator-{self.jurisdiction}"


@dataclass(frozen=True)
class Lab:
    key: str
    code: str
    name: str
    kind: LabKind
    jurisdiction: int
    regulator_role: str
    authorization_number: str
    scope: dict[str, Activity]
    address: str
    persons: tuple[tuple[str, str, str], ...]  # (name, role, id)

    @property
    def lab_id(self) -> str:
        return to_hex(derive_lab_id(self.code))


REGULATORS = (
    Regulator(330000, "浙江省市场监督管理局", "national-authority"),
    Regulator(330100, "杭州市市场监督管理局", "regulator-330000"),
)

VOLUME_STD, PRESSURE_STD, PISTON, DISPENSER, GAUGE = "JJG259", "JJG875", "JJG59", "JJG443", "JJG52"

LABS = (
    Lab(
        "nmi",
        usci("12100000400000512"),
        "中国计量科学研究院",
        LabKind.NMI,
        110000,
        "national-authority",
        "国家计量基准(2024)第001号",
        {VOLUME_STD: Activity.CALIBRATE, PISTON: Activity.CALIBRATE},
        "北京市朝阳区北三环东路18号",
        (("王建国", "PERFORMER", "NIM-0231"), ("李明", "CHECKER", "NIM-0117"), ("张华", "APPROVER", "NIM-0009")),
    ),
    Lab(
        "province",
        usci("12330000470003217"),
        "浙江省计量科学研究院",
        LabKind.LEGAL_METROLOGY_INSTITUTE,
        330000,
        "regulator-330000",
        "(浙)法计(2024)00001号",
        {
            VOLUME_STD: Activity.VERIFY | Activity.CALIBRATE,
            PRESSURE_STD: Activity.VERIFY | Activity.CALIBRATE,
            PISTON: Activity.VERIFY | Activity.CALIBRATE,
        },
        "杭州市下城区和睦路222号",
        (("陈立", "PERFORMER", "ZJJL-0412"), ("周敏", "CHECKER", "ZJJL-0388"), ("吴刚", "APPROVER", "ZJJL-0021")),
    ),
    Lab(
        "city",
        usci("12330100470008801"),
        "杭州市计量检定测试院",
        LabKind.LEGAL_METROLOGY_INSTITUTE,
        330100,
        "regulator-330100",
        "(杭)法计(2024)01001号",
        {DISPENSER: Activity.VERIFY, GAUGE: Activity.VERIFY | Activity.CALIBRATE},
        "杭州市拱墅区莫干山路1418号",
        (("赵磊", "PERFORMER", "HZJL-1203"), ("孙丽", "CHECKER", "HZJL-1157"), ("钱伟", "APPROVER", "HZJL-1002")),
    ),
)

FUEL_STATION = ("杭州西湖示范加油站有限公司", usci("91330106MA27XK5L3"), "杭州市西湖区文三路100号")
NORTH_STATION = ("杭州城北示范加油站有限公司", usci("91330105MA28LT6B4"), "杭州市拱墅区上塘路200号")
POWER_PLANT = ("杭州示范热电有限公司", usci("91330104MA2H7Q9D1"), "杭州市上城区九堡路300号")

#: How each demo certificate is shown (title) and what it was made from (its parent's name).
TITLES = {
    "nmi_volume": "NMI calibrates the institute's 一等标准金属量器",
    "nmi_pressure": "NMI calibrates the institute's 活塞式压力计",
    "province_volume": "the institute verifies the city lab's 二等标准金属量器",
    "province_pressure": "the institute calibrates the city lab's 数字压力计",
    "fuel_dispenser": "the city lab verifies a fuel dispenser (燃油加油机, 强检, 贸易结算)",
    "pressure_gauge": "the city lab calibrates a pressure gauge (压力表)",
    "revoked": "a fuel dispenser verification revoked on the city regulator's order",
    "substituted": "a pressure gauge calibration with a wrong serial number (substituted)",
    "replacement": "its corrected replacement",
}
PARENTS = {
    "province_volume": "nmi_volume",
    "province_pressure": "nmi_pressure",
    "fuel_dispenser": "province_volume",
    "pressure_gauge": "province_pressure",
    "revoked": "province_volume",
    "substituted": "province_pressure",
    "replacement": "province_pressure",
}
#: The certificates others cite as their reference standard's: issued public (anyone may download their bundles).
STANDARDS = frozenset(PARENTS.values())
_ISSUER = {
    "nmi_volume": "nmi",
    "nmi_pressure": "nmi",
    "province_volume": "province",
    "province_pressure": "province",
}


class Story:
    """The demo's records for one story date ``day``: every certificate is issued that day."""

    def __init__(self, day: dt.date) -> None:
        self.day = day
        self.year = day.year
        self._labs = {lab.key: lab for lab in LABS}

    def lab(self, key: str) -> Lab:
        return self._labs[key]

    def d(self, days_before: int) -> str:
        return (self.day - dt.timedelta(days=days_before)).isoformat()

    def number(self, name: str) -> str:
        y = self.year
        return {
            "nmi_volume": f"NIM{y}-RL-0107",
            "nmi_pressure": f"NIM{y}-YL-0215",
            "province_volume": f"ZJJL{y}-JD-1021",
            "province_pressure": f"ZJJL{y}-JZ-2047",
            "fuel_dispenser": f"HZJL{y}-JD-00031",
            "pressure_gauge": f"HZJL{y}-JZ-00412",
            "revoked": f"HZJL{y}-JD-00032",
            "substituted": f"HZJL{y}-JZ-00413",
            "replacement": f"HZJL{y}-JZ-00414",
        }[name]

    # --- parts

    def _lab_part(self, key: str) -> dict[str, Any]:
        lab = self.lab(key)
        part = {
            "lab_id": lab.lab_id,
            "code": lab.code,
            "name": lab.name,
            "authorization_number": lab.authorization_number,
            "address": lab.address,
            "country_code": "CN",
        }
        return part

    def _persons(self, key: str) -> list[dict[str, str]]:
        return [{"name": n, "role": r, "id": i} for n, r, i in self.lab(key).persons]

    def _standard(
        self, parent: str, parent_digest: str, name: str, serial: str, u: str, unit: str, **extra: Any
    ) -> dict[str, Any]:
        issuer = self.lab(_ISSUER[parent])
        return {
            "name": name,
            "serial_number": serial,
            "certificate_number": self.number(parent),
            "certificate_digest": parent_digest,
            "issuing_lab_id": issuer.lab_id,
            "issuing_lab_name": issuer.name,
            "valid_until": self._valid_until(parent),
            "uncertainty": {"expanded_uncertainty": u, "unit": unit, "coverage_factor": "2"},
            **extra,
        }

    def _valid_until(self, name: str) -> str:
        """Recalibration / validity date of the standards' certificates."""
        return {
            "nmi_volume": self.d(11 - 2 * 365),  # recalibration after 2 years
            "nmi_pressure": self.d(11 - 2 * 365),
            "province_volume": self.d(1 - 2 * 365),  # JJG 259: 检定周期 2 years
            "province_pressure": self.d(-365),  # recalibration after a year
        }[name]

    @staticmethod
    def _condition(name: str, value: str, unit: str) -> dict[str, str]:
        return {"name": name, "value": value, "unit": unit}

    @staticmethod
    def _result(quantity: str, value: str, unit: str, u: str, p: str | None = "0.95", **extra: Any) -> dict[str, Any]:
        result = {"quantity": quantity, "value": value, "unit": unit, "expanded_uncertainty": u, "coverage_factor": "2"}
        if p:
            result["coverage_probability"] = p
        return {**result, **extra}

    def _base(self, name: str, kind: str, lab: str, customer: dict[str, Any], item: dict[str, Any]) -> dict[str, Any]:
        return {
            "schema_version": "tracecert/1",
            "kind": kind,
            "certificate_number": self.number(name),
            "item": item,
            "customer": customer,
            "lab": self._lab_part(lab),
            "persons": self._persons(lab),
        }

    # --- level 1: the NMI

    def nmi_volume(self) -> dict[str, Any]:
        province = self.lab("province")
        return {
            **self._base(
                "nmi_volume",
                "CALIBRATION",
                "nmi",
                {"name": province.name, "usci": province.code, "address": province.address},
                {
                    "name": "一等标准金属量器",
                    "category_code": VOLUME_STD,
                    "manufacturer": "示范量器制造有限公司",
                    "model": "BJL-100",
                    "serial_number": "ZJ-RL-100-01",
                    "accuracy_class": "一等",
                    "measuring_range": "100 L",
                },
            ),
            "dates": {
                "receipt_date": self.d(14),
                "performance_begin": self.d(12),
                "performance_end": self.d(11),
                "issue_date": self.d(0),
                "valid_until": self._valid_until("nmi_volume"),
            },
            "method": {"reference": "JJG 259-2005", "title": "标准金属量器 (衡量法校准)"},
            "conditions": [self._condition("环境温度", "20.1", "\\degreeCelsius")],
            "results": [self._result("容量相对误差 (20 ℃, 100 L)", "0.012", "\\percent", "0.0025")],
            "standards_used": [
                {
                    "name": "国家容量计量基准装置",
                    "serial_number": "NIM-RL-JZ-01",
                    "uncertainty": {"expanded_uncertainty": "0.0008", "unit": "\\percent", "coverage_factor": "2"},
                }
            ],
            "traceability_statement": "量值溯源至国家容量计量基准 (国际单位制 SI)",
        }

    def nmi_pressure(self) -> dict[str, Any]:
        province = self.lab("province")
        return {
            **self._base(
                "nmi_pressure",
                "CALIBRATION",
                "nmi",
                {"name": province.name, "usci": province.code, "address": province.address},
                {
                    "name": "活塞式压力计",
                    "category_code": PISTON,
                    "manufacturer": "示范压力仪器有限公司",
                    "model": "HY-6",
                    "serial_number": "ZJ-YL-HS-06",
                    "accuracy_class": "0.02级",
                    "measuring_range": "(0.1~6) MPa",
                },
            ),
            "dates": {
                "receipt_date": self.d(14),
                "performance_begin": self.d(12),
                "performance_end": self.d(11),
                "issue_date": self.d(0),
                "valid_until": self._valid_until("nmi_pressure"),
            },
            "method": {"reference": "JJG 59-2007", "title": "活塞式压力计 (校准)"},
            "conditions": [self._condition("环境温度", "20.3", "\\degreeCelsius")],
            "results": [
                self._result("压力 (1 MPa)", "1.000021", "\\mega\\pascal", "0.00003"),
                self._result("压力 (6 MPa)", "6.000084", "\\mega\\pascal", "0.00012"),
            ],
            "standards_used": [
                {
                    "name": "国家压力计量基准 (活塞式)",
                    "serial_number": "NIM-YL-JZ-02",
                    "uncertainty": {
                        "expanded_uncertainty": "0.00002",
                        "unit": "\\mega\\pascal",
                        "coverage_factor": "2",
                    },
                }
            ],
            "traceability_statement": "量值溯源至国家压力计量基准",
        }

    # --- level 2: the provincial institute

    def province_volume(self, parent: str) -> dict[str, Any]:
        city = self.lab("city")
        return {
            **self._base(
                "province_volume",
                "VERIFICATION",
                "province",
                {
                    "name": city.name,
                    "usci": city.code,
                    "address": city.address,
                    "mandatory_verification": True,
                    "use": "社会公用计量标准 (燃油加油机检定用)",
                },
                {
                    "name": "二等标准金属量器",
                    "category_code": VOLUME_STD,
                    "manufacturer": "示范量器制造有限公司",
                    "model": "BJL-20",
                    "serial_number": "HZ-RL-20-03",
                    "accuracy_class": "二等",
                    "mpe": {"value": "0.025", "unit": "\\percent"},
                    "measuring_range": "20 L",
                },
            ),
            "dates": {
                "receipt_date": self.d(1),
                "performance_begin": self.d(0),
                "performance_end": self.d(0),
                "issue_date": self.d(0),
                "valid_until": self._valid_until("province_volume"),
            },
            "method": {"reference": "JJG 259-2005", "title": "标准金属量器", "clause": "7"},
            "conditions": [self._condition("环境温度", "20.4", "\\degreeCelsius")],
            "results": [self._result("容量相对误差 (20 ℃, 20 L)", "0.010", "\\percent", "0.005")],
            "standards_used": [
                self._standard("nmi_volume", parent, "一等标准金属量器", "ZJ-RL-100-01", "0.0025", "\\percent")
            ],
            "conclusion": "PASS",
            "traceability_statement": "量值溯源至中国计量科学研究院国家容量计量基准",
        }

    def province_pressure(self, parent: str) -> dict[str, Any]:
        city = self.lab("city")
        return {
            **self._base(
                "province_pressure",
                "CALIBRATION",
                "province",
                {"name": city.name, "usci": city.code, "address": city.address},
                {
                    "name": "数字压力计",
                    "category_code": PRESSURE_STD,
                    "manufacturer": "示范仪表有限公司",
                    "model": "SY-6000",
                    "serial_number": "HZ-YL-SZ-11",
                    "accuracy_class": "0.02级",
                    "measuring_range": "(0~6) MPa",
                },
            ),
            "dates": {
                "receipt_date": self.d(1),
                "performance_begin": self.d(0),
                "performance_end": self.d(0),
                "issue_date": self.d(0),
                "valid_until": self._valid_until("province_pressure"),
            },
            "method": {"reference": "JJG 875-2019", "title": "数字压力计 (校准)"},
            "conditions": [self._condition("环境温度", "20.2", "\\degreeCelsius")],
            "results": [
                self._result("示值 (1.6 MPa)", "1.60018", "\\mega\\pascal", "0.00060"),
                self._result("示值 (4 MPa)", "4.00034", "\\mega\\pascal", "0.00060"),
                self._result("示值 (6 MPa)", "6.00061", "\\mega\\pascal", "0.00060"),
            ],
            "standards_used": [
                self._standard("nmi_pressure", parent, "活塞式压力计", "ZJ-YL-HS-06", "0.00012", "\\mega\\pascal")
            ],
            "traceability_statement": "量值溯源至中国计量科学研究院国家压力计量基准",
        }

    # --- level 3: the city lab

    def _dispenser(
        self, name: str, parent: str, customer: tuple[str, str, str], serial: str, days: tuple[int, int]
    ) -> dict[str, Any]:
        perf, issued = days
        performed = self.day - dt.timedelta(days=perf)
        valid_until = _add_months(performed, 6) - dt.timedelta(days=1)
        return {
            **self._base(
                name,
                "VERIFICATION",
                "city",
                {
                    "name": customer[0],
                    "usci": customer[1],
                    "address": customer[2],
                    "mandatory_verification": True,
                    "use": "贸易结算",
                },
                {
                    "name": "燃油加油机",
                    "category_code": DISPENSER,
                    "manufacturer": "示范加油机制造有限公司",
                    "model": "CS52-2222",
                    "serial_number": serial,
                    "accuracy_class": "0.3级",
                    "mpe": {"value": "0.30", "unit": "\\percent"},
                    "measuring_range": "(5~60) L/min",
                },
            ),
            "dates": {
                "performance_begin": self.d(perf),
                "performance_end": self.d(perf),
                "issue_date": self.d(issued),
                "valid_until": valid_until.isoformat(),
            },
            "method": {"reference": "JJG 443-2023", "title": "燃油加油机"},
            "conditions": [self._condition("环境温度", "23.5", "\\degreeCelsius")],
            "results": [
                self._result("示值误差 (大流量 60 L/min)", "0.12", "\\percent", "0.03", p=None),
                self._result("示值误差 (小流量 10 L/min)", "0.18", "\\percent", "0.03", p=None),
                {"quantity": "重复性", "value": "0.04", "unit": "\\percent"},
            ],
            "standards_used": [
                self._standard(
                    "province_volume",
                    parent,
                    "二等标准金属量器",
                    "HZ-RL-20-03",
                    "0.005",
                    "\\percent",
                    mpe={"value": "0.025", "unit": "\\percent"},
                )
            ],
            "conclusion": "PASS",
            "traceability_statement": "量值溯源至中国计量科学研究院国家容量计量基准",
        }

    def fuel_dispenser(self, parent: str, *, reused: bool = False) -> dict[str, Any]:
        record = self._dispenser("fuel_dispenser", parent, FUEL_STATION, "JY-2024-08817", (0, 0))
        if reused:  # the same number, another dispenser: 一号多用
            record["item"] = {**record["item"], "serial_number": "JY-2024-09902"}
        return record

    def revoked_dispenser(self, parent: str) -> dict[str, Any]:
        record = self._dispenser("revoked", parent, NORTH_STATION, "JY-2023-05521", (0, 0))
        record["remarks"] = "现场检定; 加油机编码器铅封完好"
        return record

    def _gauge(self, name: str, parent: str, serial: str, days: tuple[int, int, int]) -> dict[str, Any]:
        receipt, perf, issued = days
        return {
            **self._base(
                name,
                "CALIBRATION",
                "city",
                {"name": POWER_PLANT[0], "usci": POWER_PLANT[1], "address": POWER_PLANT[2]},
                {
                    "name": "一般压力表",
                    "category_code": GAUGE,
                    "manufacturer": "示范仪表有限公司",
                    "model": "Y-100",
                    "serial_number": serial,
                    "accuracy_class": "1.6级",
                    "measuring_range": "(0~1.6) MPa",
                },
            ),
            "dates": {
                "receipt_date": self.d(receipt),
                "performance_begin": self.d(perf),
                "performance_end": self.d(perf),
                "issue_date": self.d(issued),
            },
            "method": {"reference": "JJG 52-2013", "title": "弹性元件式一般压力表 (参照校准)"},
            "conditions": [self._condition("环境温度", "21.0", "\\degreeCelsius")],
            "results": [
                self._result("示值误差 (0.4 MPa)", "0.004", "\\mega\\pascal", "0.0032"),
                self._result("示值误差 (0.8 MPa)", "0.006", "\\mega\\pascal", "0.0032"),
                self._result("示值误差 (1.2 MPa)", "-0.004", "\\mega\\pascal", "0.0032"),
                self._result("示值误差 (1.6 MPa)", "0.008", "\\mega\\pascal", "0.0032"),
            ],
            "standards_used": [
                self._standard("province_pressure", parent, "数字压力计", "HZ-YL-SZ-11", "0.00060", "\\mega\\pascal")
            ],
            "traceability_statement": "量值溯源至中国计量科学研究院国家压力计量基准",
        }

    def pressure_gauge(self, parent: str) -> dict[str, Any]:
        return self._gauge("pressure_gauge", parent, "YB-23-04417", (2, 0, 0))

    def substituted_gauge(self, parent: str) -> dict[str, Any]:
        return self._gauge("substituted", parent, "YB-23-05170", (3, 0, 0))  # digits swapped: should be 05107

    def replacement_gauge(self, parent: str, old: str) -> dict[str, Any]:
        record = self._gauge("replacement", parent, "YB-23-05107", (3, 0, 0))
        record["replaces"] = {"certificate_number": self.number("substituted"), "certificate_digest": old}
        record["remarks"] = f"本证书代替 {self.number('substituted')} (更正出厂编号)"
        return record


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return dt.date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")
