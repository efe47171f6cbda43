"""The demo: a small, realistic DIRAC installation in memory.

Three services on one port, to learn how DIRAC services behave:

* ``Demo/Jobs``: a job service (job IDs as integer dict keys, which arrive as
  strings, as in DIRAC; datetimes; nested results; an ``S_ERROR``; a method
  that raises; a slow one; one reserved for administrators);
* ``Demo/Files``: output sandboxes as files (``streamToClient`` download and
  ``streamFromClient`` upload, bytes inside results);
* ``Framework/Notification``: messages between users.

State lives in memory and is lost when the server stops.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from collections.abc import Sequence
from typing import Any, ClassVar

from diracsh.results import S_ERROR, S_OK
from diracsh.server.service import Service, remote_credentials, utcnow

__all__ = ["DemoFiles", "DemoJobs", "DemoNotification", "demo_services"]

ENOENT = 2
_STATUSES = ("Received", "Checking", "Waiting", "Matched", "Running", "Done", "Failed")
_SITES = ("LCG.CERN.cern", "LCG.IN2P3.fr", "LCG.RAL.uk", "DIRAC.Demo.org")


class DemoJobs(Service):
    """A job service in the style of DIRAC's WorkloadManagement."""

    name: ClassVar[str] = "Demo/Jobs"

    types_getJobStatus: ClassVar[list[Any]] = [(int, list)]
    types_getJobAttributes: ClassVar[list[Any]] = [int]
    types_submitJob: ClassVar[list[Any]] = [str]
    types_killJob: ClassVar[list[Any]] = [int]
    types_getJobLoggingInfo: ClassVar[list[Any]] = [int]
    types_waitForJob: ClassVar[list[Any]] = [int, (int, float)]
    auth_resetJobs: ClassVar[Sequence[str]] = ("JobAdministrator",)
    auth_getJobSummary: ClassVar[Sequence[str]] = ("all",)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._jobs: dict[int, dict[str, Any]] = {}
        self._next_id = 12
        self._seed()

    def _seed(self) -> None:
        base = dt.datetime(2024, 1, 2, 3, 4, 5)
        for index in range(8):
            job_id = self._next_id
            self._next_id += 1
            status = _STATUSES[(index + 4) % len(_STATUSES)]
            submitted = base + dt.timedelta(hours=index)
            self._jobs[job_id] = {
                "JobID": job_id,
                "JobName": f"demo_job_{job_id}",
                "Owner": "demo user",
                "OwnerGroup": "demo_user",
                "Status": status,
                "MinorStatus": "Application Finished" if status == "Done" else "",
                "Site": _SITES[index % len(_SITES)],
                "SubmissionTime": submitted,
                "LastUpdateTime": submitted + dt.timedelta(minutes=37),
                "JDL": f'[ Executable = "demo.sh"; Arguments = "{index}"; ]',
                "Logging": [
                    ("Received", "Job accepted", submitted),
                    (status, "", submitted + dt.timedelta(minutes=37)),
                ],
            }

    def _job(self, job_id: int) -> dict[str, Any] | None:
        return self._jobs.get(job_id)

    def export_getJobStatus(self, jobIDs: int | list[int]) -> dict[str, Any]:  # noqa: N802, N803
        """Status of one job or a list of jobs, keyed by job ID."""
        wanted = jobIDs if isinstance(jobIDs, list) else [jobIDs]
        with self._lock:
            found = {
                job_id: self._jobs[job_id]["Status"]
                for job_id in wanted
                if isinstance(job_id, int) and job_id in self._jobs
            }
        return S_OK(found)

    def export_getJobAttributes(  # noqa: N802
        self,
        jobID: int,
        attrList: list[str] | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        """All attributes of a job (or those named in attrList)."""
        with self._lock:
            job = self._job(jobID)
            if job is None:
                return S_ERROR(ENOENT, f"Job {jobID} not found")
            attributes = {k: v for k, v in job.items() if k != "Logging"}
        if attrList:
            attributes = {k: v for k, v in attributes.items() if k in attrList}
        return S_OK(attributes)

    def export_getJobSummary(self) -> dict[str, Any]:  # noqa: N802
        """Counts of jobs per status and per site (nested dicts)."""
        summary: dict[str, dict[str, int]] = {}
        with self._lock:
            for job in self._jobs.values():
                per_site = summary.setdefault(job["Status"], {})
                per_site[job["Site"]] = per_site.get(job["Site"], 0) + 1
        return S_OK({"Total": len(self._jobs), "ByStatus": summary})

    def export_submitJob(self, jdl: str) -> dict[str, Any]:  # noqa: N802
        """Submit a job described by a JDL string; returns its new job ID."""
        if "Executable" not in jdl:
            return S_ERROR("JDL has no Executable")
        owner = remote_credentials().get("username", "anonymous")
        now = utcnow()
        with self._lock:
            job_id = self._next_id
            self._next_id += 1
            self._jobs[job_id] = {
                "JobID": job_id,
                "JobName": f"job_{job_id}",
                "Owner": owner,
                "OwnerGroup": remote_credentials().get("group", "visitor"),
                "Status": "Received",
                "MinorStatus": "Job accepted",
                "Site": "ANY",
                "SubmissionTime": now,
                "LastUpdateTime": now,
                "JDL": jdl,
                "Logging": [("Received", "Job accepted", now)],
            }
        return S_OK(job_id)

    def export_killJob(self, jobID: int) -> dict[str, Any]:  # noqa: N802, N803
        """Kill a job; an S_ERROR if it is already finished or unknown."""
        with self._lock:
            job = self._job(jobID)
            if job is None:
                return S_ERROR(ENOENT, f"Job {jobID} not found")
            if job["Status"] in ("Done", "Failed", "Killed"):
                return S_ERROR(f"Job {jobID} is already {job['Status']}")
            job["Status"] = "Killed"
            job["LastUpdateTime"] = utcnow()
            job["Logging"].append(("Killed", "Killed by user", job["LastUpdateTime"]))
        return S_OK([jobID])

    def export_getJobLoggingInfo(self, jobID: int) -> dict[str, Any]:  # noqa: N802, N803
        """The job's history: (status, minor status, time) tuples."""
        with self._lock:
            job = self._job(jobID)
            if job is None:
                return S_ERROR(ENOENT, f"Job {jobID} not found")
            return S_OK(list(job["Logging"]))

    def export_waitForJob(self, jobID: int, seconds: float) -> dict[str, Any]:  # noqa: N802, N803
        """Wait up to `seconds` (at most 60) for a job: slow on purpose, try Ctrl-C."""
        self.stopping.wait(min(float(seconds), 60.0))
        with self._lock:
            job = self._job(jobID)
            return S_OK(job["Status"] if job else "Unknown")

    def export_streamToClient(self, jobID: int) -> Any:  # noqa: N802, N803
        """A job's output log, as a download (`.get out.log 12`)."""
        with self._lock:
            job = self._job(jobID) if isinstance(jobID, int) else None
            if job is None:
                return S_ERROR(ENOENT, f"Job {jobID} not found")
            lines = [
                f"{when:%Y-%m-%d %H:%M:%S} {status} {minor}".rstrip()
                for status, minor, when in job["Logging"]
            ]
        return ("\n".join([f"Job {jobID} ({job['JobName']})", *lines]) + "\n").encode()

    def export_getSiteMask(self) -> dict[str, Any]:  # noqa: N802
        """Sites accepting jobs; broken on purpose: the service raises (HTTP 500)."""
        raise RuntimeError("the site mask database is unreachable (demo failure)")

    def export_resetJobs(self) -> dict[str, Any]:  # noqa: N802
        """Forget every job; for JobAdministrator only (the demo user gets 401)."""
        with self._lock:
            count = len(self._jobs)
            self._jobs.clear()
        return S_OK(count)


class DemoFiles(Service):
    """Output sandboxes: download with streamToClient, upload with streamFromClient."""

    name: ClassVar[str] = "Demo/Files"
    MAX_UPLOAD = 64 * 1024 * 1024

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._files: dict[str, bytes] = {
            "std.out": b"".join(
                f"line {n}: demo job output\n".encode() for n in range(1, 201)
            ),
            "image.png": b"\x89PNG\r\n\x1a\n\x00\xff" + bytes(range(256)),
        }
        self._generated: dict[int, bytes] = {}

    def export_listFiles(self) -> dict[str, Any]:  # noqa: N802
        """Names, sizes and MD5 sums of the stored files."""
        with self._lock:
            return S_OK(
                {
                    name: {"Size": len(data), "MD5": hashlib.md5(data).hexdigest()}  # noqa: S324
                    for name, data in sorted(self._files.items())
                }
            )

    def export_getFileBytes(self, fileName: str) -> dict[str, Any]:  # noqa: N802, N803
        """A small file's content inside the result (bytes travel as base64)."""
        with self._lock:
            data = self._files.get(fileName)
        if data is None:
            return S_ERROR(ENOENT, f"No file {fileName!r}")
        return S_OK(data)

    def export_streamToClient(self, fileName: str | int) -> Any:  # noqa: N802, N803
        """Download a file (`.get DEST NAME`); an integer N gives N MiB of data."""
        if isinstance(fileName, int) and not isinstance(fileName, bool):
            return self._sized(fileName)
        with self._lock:
            data = self._files.get(str(fileName))
        if data is None:
            return S_ERROR(ENOENT, f"No file {fileName!r}")
        return data

    def _sized(self, mebibytes: int) -> Any:
        if not 0 < mebibytes <= 1024:
            return S_ERROR("size must be between 1 and 1024 MiB")
        with self._lock:
            if mebibytes not in self._generated:
                block = hashlib.sha256(str(mebibytes).encode()).digest() * 32768
                self._generated = {mebibytes: block * mebibytes}
            return self._generated[mebibytes]

    def export_streamFromClient(  # noqa: N802
        self,
        fileID: Any,
        token: str,
        fileSize: int,
        data: bytes,  # noqa: N803
    ) -> dict[str, Any]:
        """Upload a file (`.put FILE NAME`); returns where it was stored."""
        if not isinstance(data, bytes):
            return S_ERROR(f"expected the file's bytes, not {type(data).__name__}")
        if len(data) != fileSize:
            return S_ERROR(f"expected {fileSize} bytes, received {len(data)}")
        if fileSize > self.MAX_UPLOAD:
            return S_ERROR("File is too big for the demo (64 MiB at most)")
        name = fileID if isinstance(fileID, str) else "_".join(map(str, fileID))
        with self._lock:
            self._files[name] = data
        return S_OK(f"SB:DemoSE|/demo/{name}")


class DemoNotification(Service):
    """Messages between users, like DIRAC's Framework/Notification."""

    name: ClassVar[str] = "Framework/Notification"
    types_sendMail: ClassVar[list[Any]] = [str, str, str]

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._messages: list[dict[str, Any]] = [
            {
                "ID": 1,
                "From": "DIRAC",
                "To": "demo user",
                "Subject": "Welcome",
                "Body": "Try getJobStatus(12) on Demo/Jobs.",
                "Time": dt.datetime(2024, 1, 2, 3, 4, 5),
                "Read": False,
            }
        ]

    def export_sendMail(self, address: str, subject: str, body: str) -> dict[str, Any]:  # noqa: N802
        """Queue a message for `address`; returns its ID."""
        sender = remote_credentials().get("username", "anonymous")
        with self._lock:
            message_id = len(self._messages) + 1
            self._messages.append(
                {
                    "ID": message_id,
                    "From": sender,
                    "To": address,
                    "Subject": subject,
                    "Body": body,
                    "Time": utcnow(),
                    "Read": False,
                }
            )
        return S_OK(message_id)

    def export_getMessages(self, unreadOnly: bool = False) -> dict[str, Any]:  # noqa: N802, N803
        """The messages, newest first (all, or unread only)."""
        with self._lock:
            found = [dict(m) for m in self._messages if not unreadOnly or not m["Read"]]
        return S_OK(sorted(found, key=lambda m: m["ID"], reverse=True))


def demo_services() -> list[Service]:
    """Fresh demo services (their state starts from the same seed)."""
    return [DemoJobs(), DemoFiles(), DemoNotification()]
