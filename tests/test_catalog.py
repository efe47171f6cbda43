"""The method catalog: DIRAC 9.1.22's handler sources, a handler tree written
here, a kit service's listing, and the type check before sending."""

from __future__ import annotations

import logging
import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diracsh import TornadoClient, catalog
from diracsh.catalog import (
    BUILTIN_METHODS,
    Catalog,
    build_catalog,
    check_call,
    default_catalog,
    installed_sources,
    main_catalog,
    methods_for,
    scan,
)
from diracsh.server.demo import demo_services
from tests.kit import KitPKI, build_pki, kit_server


@pytest.fixture(scope="module")
def dirac(dirac_source: Path) -> Catalog:
    return scan([dirac_source])


# -- DIRAC 9.1.22 as released ----------------------------------------------------------


def test_dirac_counts(dirac: Catalog) -> None:
    handlers = dirac.handlers.values()
    assert len(dirac.handlers) == 58
    assert sum(h.direct for h in handlers) == 408
    assert sum(h.https for h in handlers) == 24
    assert len(dirac.services()) == 35
    assert sum(len(dirac.methods(name)) for name in dirac.services()) == 514
    assert dirac.skipped == {}


def test_dirac_job_monitoring_methods(dirac: Catalog) -> None:
    methods = dirac.methods("WorkloadManagement/JobMonitoring")
    assert len(methods) == 19
    assert methods["getJobsStatus"]["args"] == ["jobIDs"]
    assert methods["getJobsStatus"]["types"] == ["str | int | list"]
    assert methods["getJobAttributes"]["args"] == ["jobID", "attrList"]
    assert methods["getJobAttributes"]["types"] == ["int"]
    assert methods["getJobAttributes"]["required"] == 1
    assert methods["getJobs"]["doc"] == (
        "Return list of JobIds matching the condition given in attrDict"
    )
    # the Tornado base class's built-ins, with their DIRAC permissions
    assert methods["whoami"]["auth"] == ["authenticated"]
    assert "refreshConfiguration" not in methods  # DISET's RequestHandler only


def test_tornado_name_gives_the_same_methods(dirac: Catalog) -> None:
    plain = methods_for("WorkloadManagement/JobMonitoring", None, catalog=dirac)
    tornado = methods_for(
        "WorkloadManagement/TornadoJobMonitoring", None, catalog=dirac
    )
    assert tornado == plain
    assert (
        dirac.lookup("WorkloadManagement/JobMonitoring")
        is dirac.handlers["WorkloadManagement/TornadoJobMonitoring"]
    )


def test_tornado_file_catalog_maps_to_its_mixin(dirac: Catalog) -> None:
    handler = dirac.handlers["DataManagement/TornadoFileCatalog"]
    assert handler.direct == 1  # streamToClient; the rest is FileCatalogHandlerMixin's
    methods = dirac.methods("DataManagement/TornadoFileCatalog")
    assert len(methods) == 72
    assert methods["streamToClient"]["args"] == ["jsonSENames"]
    assert methods["addFile"]["args"] == ["lfns"]


def test_dirac_values_followed_through_names_and_imports(dirac: Catalog) -> None:
    configuration = dirac.handlers["Configuration/Configuration"].methods
    # CS_ADMINISTRATOR = SecurityProperty.CS_ADMINISTRATOR.value, an Enum in Properties
    assert configuration["forceGlobalConfigurationUpdate"]["auth"] == [
        "CSAdministrator"
    ]
    assert configuration["refreshConfiguration"]["types"] == ["bool"]
    assert configuration["publishSlaveServer"]["auth"] == ["TrustedHost"]
    tornado_cs = dirac.methods("Configuration/TornadoConfiguration")
    assert tornado_cs["getCompressedDataIfNewer"]["args"] == ["sClientVersion"]
    # types_ lists kept in module-level names, and one class attribute naming another
    production = dirac.methods("Production/ProductionManager")
    assert production["addProduction"]["types"] == ["str | int", "str"]
    transformation = dirac.methods("Transformation/TransformationManager")
    assert transformation["getTransformationFilesAsJsonString"]["args"] == ["*args"]


def test_dips_only_service_keeps_disets_methods(dirac: Catalog) -> None:
    handler = dirac.lookup("RequestManagement/ReqProxy")
    assert handler is not None and handler.https is False
    methods = dirac.methods("RequestManagement/ReqProxy")
    assert sorted(methods) == [
        "echo",
        "getStatus",
        "listCacheDir",
        "ping",
        "putRequest",
        "refreshConfiguration",
        "whoami",
    ]
    assert methods["echo"]["types"] == ["str"]  # DISET checks it; Tornado does not


def test_catalog_command_summary_on_dirac(
    dirac_source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_catalog([str(dirac_source)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[:2] == [
        "58 handler modules with 408 export_ methods defined in them directly",
        "35 services (24 with an HTTPS handler), 514 methods counting mixins, "
        "bases and built-ins",
    ]
    assert (
        "WorkloadManagement/JobMonitoring       19 methods  https      "
        "TornadoJobMonitoringHandler"
    ) in lines
    assert err.startswith(f"# {dirac_source} (scanned, ")

    assert main_catalog([str(dirac_source)]) == 0
    assert f"# {dirac_source} (cached, " in capsys.readouterr().err


def test_catalog_command_shows_a_service_under_both_names(
    dirac_source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_catalog([str(dirac_source), "WorkloadManagement/JobMonitoring"]) == 0
    plain = capsys.readouterr().out
    assert (
        main_catalog([str(dirac_source), "WorkloadManagement/TornadoJobMonitoring"])
        == 0
    )
    assert capsys.readouterr().out == plain
    lines = plain.splitlines()
    assert lines[0] == (
        "WorkloadManagement/JobMonitoring: TornadoJobMonitoringHandler in "
        "DIRAC/WorkloadManagementSystem/Service/TornadoJobMonitoringHandler.py, "
        "19 methods"
    )
    assert "getJobsStatus(jobIDs: str | int | list)" in lines
    assert "getJobAttributes(jobID: int, attrList=...)" in lines
    assert "    :param int jobID: one single Job ID" in lines


def test_catalog_command_unknown_service_suggests(
    dirac_source: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_catalog([str(dirac_source), "WorkloadManagement/JobMonitor"]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "diracsh catalog: no handler for WorkloadManagement/JobMonitor "
        "(did you mean WorkloadManagement/JobMonitoring, "
        "WorkloadManagement/JobManager, WorkloadManagement/Matcher?)"
    )


# -- a handler tree written here -------------------------------------------------------

TREE = {
    "Toy/__init__.py": "",
    "Toy/Core/__init__.py": "",
    "Toy/Core/Constants.py": 'ADMIN = "ToyAdmin"\n',
    "Toy/Core/Base.py": '''
        class BaseHandler:
            types_baseMethod = [str]
            auth_baseMethod = ["authenticated"]

            def export_baseMethod(self, name):
                """Defined in the base class."""

            def export_overridden(self):
                """The base class's version."""
        ''',
    "Toy/WidgetSystem/__init__.py": "",
    "Toy/WidgetSystem/Service/__init__.py": "",
    "Toy/WidgetSystem/Service/GadgetHandler.py": '''
        import datetime

        from Toy.Core import Constants
        from ...Core.Base import BaseHandler

        ID_TYPES = [int, str]


        class GadgetHandlerMixin:
            types_getGadget = [int, (list, type(None))]

            @classmethod
            def export_getGadget(cls, gadgetID, fields=None):
                """Return one gadget.

                More text that is not shown.
                """

            types_countGadgets = [str] * 2

            @staticmethod
            def export_countGadgets(site, *states):
                """Count gadgets."""

            types_removeGadget = [ID_TYPES]
            auth_removeGadget = [Constants.ADMIN]

            def export_removeGadget(self, gadgetID):
                pass

            types_since = [datetime.datetime]

            async def export_since(self, when):
                pass

            def export_overridden(self):
                """The mixin's version wins."""


        class GadgetHandler(GadgetHandlerMixin, BaseHandler):
            types_echoGadget = [None, dict]

            def export_echoGadget(self, anything, options):
                pass
        ''',
    "Toy/WidgetSystem/Service/TornadoGadgetHandler.py": """
        from Toy.Core.Base import BaseHandler as Base
        from Toy.WidgetSystem.Service.GadgetHandler import GadgetHandlerMixin


        class TornadoGadgetHandler(GadgetHandlerMixin, Base):
            auth_streamToClient = "all, authenticated"

            def export_streamToClient(self, fileID):
                pass
        """,
    "Toy/WidgetSystem/Service/BrokenHandler.py": "class BrokenHandler(:\n    pass\n",
    "Toy/WidgetSystem/Service/LonelyHandler.py": "class Other:\n    pass\n",
}


@pytest.fixture
def toy(tmp_path: Path) -> Path:
    root = tmp_path / "toy"
    for name, text in TREE.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root / "Toy"


def test_tree_with_mixin_base_types_and_broken_files(
    toy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="diracsh"):
        toys = scan([toy])

    assert sorted(toys.handlers) == ["Widget/Gadget", "Widget/TornadoGadget"]
    service = toy / "WidgetSystem" / "Service"
    assert toys.skipped == {
        str(service / "BrokenHandler.py"): "SyntaxError: invalid syntax (line 1)",
        str(service / "LonelyHandler.py"): "LookupError: no class LonelyHandler in it",
    }
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    broken = f"skipping {service / 'BrokenHandler.py'}: SyntaxError: invalid syntax"
    assert any(message.startswith(broken) for message in warnings)

    gadget = toys.handlers["Widget/Gadget"]
    assert (gadget.handler, gadget.direct, gadget.https) == ("GadgetHandler", 6, False)
    assert gadget.methods == {
        "baseMethod": {
            "args": ["name"],
            "types": ["str"],
            "doc": "Defined in the base class.",
            "auth": ["authenticated"],
            "required": 1,
        },
        "countGadgets": {
            "args": ["site", "*states"],
            "types": ["str", "str"],
            "doc": "Count gadgets.",
            "auth": [],
            "required": 1,
        },
        "echoGadget": {
            "args": ["anything", "options"],
            "types": ["any", "dict"],
            "doc": "",
            "auth": [],
            "required": 2,
        },
        "getGadget": {
            "args": ["gadgetID", "fields"],
            "types": ["int", "list | NoneType"],
            "doc": "Return one gadget.",
            "auth": [],
            "required": 1,
        },
        "overridden": {
            "args": [],
            "types": [],
            "doc": "The mixin's version wins.",
            "auth": [],
            "required": 0,
        },
        "removeGadget": {
            "args": ["gadgetID"],
            "types": ["int | str"],
            "doc": "",
            "auth": ["ToyAdmin"],
            "required": 1,
        },
        "since": {
            "args": ["when"],
            "types": ["datetime"],
            "doc": "",
            "auth": [],
            "required": 1,
        },
    }


def test_tree_tornado_twin_serves_the_name(toy: Path) -> None:
    toys = scan([toy])
    twin = toys.handlers["Widget/TornadoGadget"]
    assert twin.direct == 1
    assert toys.lookup("Widget/Gadget") is twin
    methods = toys.methods("Widget/Gadget")
    assert sorted(methods) == [
        "baseMethod",
        "countGadgets",
        "echo",
        "getGadget",
        "overridden",
        "ping",
        "removeGadget",
        "since",
        "streamToClient",
        "whoami",
    ]
    assert methods["streamToClient"]["auth"] == ["all", "authenticated"]
    assert methods["ping"] == {**BUILTIN_METHODS["ping"], "name": "ping"}


def test_cache_is_used_until_a_file_changes(toy: Path) -> None:
    first = build_catalog([toy])
    again = build_catalog([toy])
    assert (first.from_cache, again.from_cache) == (False, True)
    assert again.handlers == first.handlers
    assert again.skipped == first.skipped

    base = toy / "Core" / "Base.py"
    base.write_text(base.read_text().replace("class's version", "class's own"))
    os.utime(base, ns=(base.stat().st_atime_ns, base.stat().st_mtime_ns + 10**9))
    assert build_catalog([toy]).from_cache is False

    (toy / "WidgetSystem" / "Service" / "SprocketHandler.py").write_text(
        "class SprocketHandler:\n    def export_spin(self):\n        pass\n"
    )
    rebuilt = build_catalog([toy])
    assert rebuilt.from_cache is False
    assert rebuilt.methods("Widget/Sprocket")["spin"]["args"] == []


def test_catalog_command_on_a_tree(
    toy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main_catalog([str(toy)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [
        "2 handler modules with 7 export_ methods defined in them directly",
        "1 services (1 with an HTTPS handler), 10 methods counting mixins, bases "
        "and built-ins",
    ]
    assert out[2].startswith("skipped ") and out[2].endswith(
        "BrokenHandler.py: SyntaxError: invalid syntax (line 1)"
    )
    assert out[-1] == "Widget/Gadget   10 methods  https      TornadoGadgetHandler"
    assert main_catalog([str(toy / "missing")]) == 3
    assert "is not a directory" in capsys.readouterr().err
    assert main_catalog(["a", "b", "c"]) == 2


def test_installed_dirac_is_found_from_its_metadata_never_imported(
    dirac_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if diracsh were installed beside DIRAC: its site-packages on the path.
    monkeypatch.setattr(sys, "path", [*sys.path, str(dirac_source.parent)])
    monkeypatch.setattr(catalog.cache, "_default", None)
    assert installed_sources() == [dirac_source]

    found = default_catalog()

    assert len(found.handlers) == 58
    assert found.methods("WorkloadManagement/JobMonitoring")["getJobsStatus"][
        "args"
    ] == ["jobIDs"]
    assert not [name for name in sys.modules if name.split(".")[0] == "DIRAC"]


def test_default_catalog_from_diracsh_dirac_sources(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(catalog.ENV_SOURCES, str(toy))
    monkeypatch.setattr(catalog.cache, "_default", None)
    url = "https://toys.example.org:8443/Widget/TornadoGadget"
    assert methods_for(url, None)["getGadget"]["types"] == ["int", "list | NoneType"]
    assert sorted(methods_for("Nowhere/Nothing", None)) == ["echo", "ping", "whoami"]


# -- a kit service's listing and the type check ----------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> KitPKI:
    return build_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def jobs_listing(pki: KitPKI) -> Iterator[dict[str, Any]]:
    with kit_server(pki) as server:
        client = TornadoClient(
            server.url("Demo/Jobs"),
            proxyLocation=str(pki.proxy),
            caLocation=str(pki.ca_dir),
        )
        result = client.listMethods()
        assert result["OK"], result
        yield result["Value"]


def test_listing_is_used_as_sent_with_builtins(jobs_listing: dict[str, Any]) -> None:
    methods = methods_for("Demo/Jobs", jobs_listing, catalog=Catalog([]))
    assert set(methods) == set(jobs_listing) | set(BUILTIN_METHODS)
    assert methods["getJobStatus"] == {
        **jobs_listing["getJobStatus"],
        "name": "getJobStatus",
    }
    assert methods["getJobStatus"]["types"] == ["int | list"]
    assert methods["waitForJob"]["args"] == ["jobID", "seconds"]


def test_a_listing_of_odd_shapes_is_normalised() -> None:
    methods = methods_for(
        "X/Y", {"odd": {"args": ("a",), "doc": "one\ntwo"}, "bare": None}
    )
    assert methods["odd"] == {
        "args": ["a"],
        "types": [],
        "auth": [],
        "doc": "one",
        "name": "odd",
    }
    assert methods["bare"]["args"] == []


@pytest.mark.parametrize(
    ("method", "args"),
    [
        pytest.param("getJobStatus", ["12"], id="str-for-int-or-list"),
        pytest.param("getJobStatus", [], id="too-few"),
        pytest.param("waitForJob", [1, "2"], id="second-parameter"),
        pytest.param("sendMail", ["a", "b"], id="three-expected"),
        pytest.param("getJobStatus", [(1, 2)], id="tuple-arrives-as-list"),
        pytest.param("waitForJob", [1, 2.5], id="fine"),
    ],
)
def test_check_call_says_what_the_kit_says(
    jobs_listing: dict[str, Any], method: str, args: list[Any]
) -> None:
    services = {s.name: s for s in demo_services()}
    owner = next(s for s in services.values() if s.lookup(method) is not None)
    entry = methods_for(owner.name, owner.export_listMethods()["Value"])[method]
    server_side = owner.check_types(
        method, [list(a) if isinstance(a, tuple) else a for a in args]
    )
    assert check_call(entry, args) == (server_side or {}).get("Message")


def test_check_call_messages() -> None:
    entry = {
        "name": "getJobJDL",
        "args": ["jobID", "original"],
        "types": ["int", "bool"],
    }
    assert check_call(entry, ["7", True]) == (
        "Type mismatch in parameter 0 (starting with param 0) "
        "Received <class 'str'>, expected <class 'int'>"
    )
    assert check_call(entry, [7]) == "Function getJobJDL expects at least 2 arguments"
    assert check_call(entry, [7, True, 3]) == (
        "Function getJobJDL takes at most 2 arguments (jobID, original), 3 given"
    )
    assert check_call(entry, [7, False]) is None
    tuple_entry = {"args": ["pair"], "types": ["tuple"]}
    assert check_call(tuple_entry, [(1, 2)], "setPair") == (
        "Type mismatch in parameter 0 (starting with param 0) "
        "Received <class 'list'>, expected <class 'tuple'>"
    )
    either = {"args": ["jobIDs"], "types": ["int | list"]}
    assert check_call(either, ["12"], "getJobsStatus") == (
        "Type mismatch in parameter 0 (starting with param 0) "
        "Received <class 'str'>, expected (<class 'int'>, <class 'list'>)"
    )
    assert check_call({"args": ["x"], "types": ["SomeClass"]}, [object()]) is None
    assert check_call({"args": ["*rest"], "required": 1}, [], "f") == (
        "Function f expects at least 1 arguments"
    )
    ping = methods_for("Any/Thing", {})["ping"]
    assert check_call(ping, [1]) == "Function ping takes at most 0 arguments, 1 given"
