"""``carm-edi demo``: every CUSDEC fixture through the gateway, end to end, on this machine.

A fresh ``.demo`` folder (``CARM_DATA_DIR``), partner ``broker01`` with the
fixtures in its inbox, the embedded portal on a free port of 127.0.0.1, one run
of the ``carm_inbound`` DAG with ``dag.test()`` (or the pipeline directly), then
a readable account of what came out.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

from gateway.settings import PROJECT_ROOT, Settings
from ledger.outcomes import WORDS

PARTNER = "broker01"
FIXTURES = PROJECT_ROOT / "fixtures" / "cusdec"
DAGS_FOLDER = PROJECT_ROOT / "dags"
SHOWCASE = ("v01_single.edi", "i11_unknown_hs.edi")  # an accepted file and a rejected one
SHOWCASE_TRANSACTION = "10207000300014"  # v01's transaction, adjusted by v04 (approved by the demo's operator)
DEPENDENT = ("v01_single.edi", "v04_correction.edi", "i14_duplicate_interchange.edi")
DEMO_BATCH_SIZE = 8  # 22 fixtures: three mapped batches


def run_demo(use_airflow: bool = True) -> int:
    """Run the demo; 0 when the run completed (rejected fixtures are expected), 1 when it failed."""
    settings = Settings()
    reset_demo_folder(settings)
    deliver_fixtures(settings)
    from portal.server import PortalServer

    with PortalServer(
        settings.portal_database(), settings.active_tariff_path(), reference_dir=settings.reference_dir
    ) as portal:
        demo_env = {
            "CARM_DATA_DIR": str(settings.resolved_data_dir),
            "CARM_PORTAL_URL": portal.url,
            "CARM_BATCH_SIZE": str(DEMO_BATCH_SIZE),
            "CARM_QUIET_SECONDS": "0",  # the fixtures were copied in whole before the run
            # One file at a time: the story needs v01 decided before v04 (its correction) and i14
            # (its interchange reference again), which files in flight would not guarantee.
            "CARM_PORTAL_CONCURRENCY": "1",
        }
        with _environ(**demo_env):
            settings = Settings()
            completed = _run_dag(settings) if use_airflow else _run_pipeline(settings)
            print_account(settings)
            if completed:
                completed = run_payments(settings, use_airflow)
    if not completed:
        print("\nThe run FAILED: see the task logs above.")
    return 0 if completed else 1


# --- set-up ---------------------------------------------------------------------------------


def reset_demo_folder(settings: Settings) -> None:
    """Remove what a previous demo left: partner folders, Airflow home, ledger and portal databases."""
    root = settings.resolved_data_dir
    for folder in ("partners", "airflow"):
        shutil.rmtree(root / folder, ignore_errors=True)
    for database in ("ledger.sqlite", "portal.sqlite"):
        (root / database).unlink(missing_ok=True)
    root.mkdir(parents=True, exist_ok=True)


def demo_order() -> list[Path]:
    """v01 first, then v04 (a correction of v01's transaction) and i14 (v01's interchange
    reference again), then the other valid and invalid fixtures in name order.

    Mapped batches may run in any order, but a batch processes its files in name
    order when they are worked one at a time (the demo's ``portal_concurrency`` 1): with
    ``DEMO_BATCH_SIZE`` the three dependent files share the first batch.
    """
    fixtures = [p for folder in ("valid", "invalid") for p in sorted((FIXTURES / folder).iterdir()) if p.is_file()]
    first = [p for name in DEPENDENT for p in fixtures if p.name == name]
    return first + [p for p in fixtures if p not in first]


def deliver_fixtures(settings: Settings) -> Path:
    """Copy the fixtures into broker01's inbox as ``NN_<name>``: the inbox is processed in name order."""
    inbox = settings.resolved_data_dir / "partners" / PARTNER / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    for number, source in enumerate(demo_order(), start=1):
        shutil.copyfile(source, inbox / f"{number:02d}_{source.name}")
    return inbox


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    """Set environment variables for the block (the DAG's tasks build ``Settings()`` from them)."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


# --- running ----------------------------------------------------------------------------------


def _run_pipeline(settings: Settings) -> bool:
    from gateway import service

    for batch in service.plan_batches(settings):
        service.run_batch(settings, batch, "demo")
    return True


def _run_dag(settings: Settings) -> bool:
    """One ``dag.test()`` run in this process, Airflow's home and database under the demo folder.

    Airflow reads its configuration when first imported, so the variables are set before the import.
    """
    home = settings.resolved_data_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        }
    )
    warnings.filterwarnings("ignore")
    print("Running the carm_inbound DAG (Airflow dag.test(), in this process) ...")
    from airflow.dag_processing.dagbag import DagBag
    from airflow.utils import db

    _quiet_logging()
    db.initdb()
    dag = DagBag(dag_folder=str(DAGS_FOLDER)).dags["carm_inbound"]
    run = dag.test()
    print(f"DAG run {run.run_id}: {run.state}")
    return run.state == "success"


def _quiet_logging() -> None:
    for name in ("airflow", "alembic", "sqlalchemy", "httpx", "uvicorn"):
        logging.getLogger(name).setLevel(logging.WARNING)


# --- the account ------------------------------------------------------------------------------


def file_rows(settings: Settings) -> list[dict[str, Any]]:
    """One row per delivered file, from its JSON report, where the original ended up and
    its outcome word in the ledger (``files.result``)."""
    from ledger import Ledger

    partner = settings.resolved_data_dir / "partners" / PARTNER
    ledger = Ledger(settings.ledger_database_url())
    try:
        words = {record.name: record.result for record in ledger.files(partner=PARTNER)}
    finally:
        ledger.dispose()
    rows = []
    for report_path in sorted((partner / "outbox").glob("*.report.json")):
        report = json.loads(report_path.read_text(encoding="utf-8"))
        name = report["file"]
        documents = [d for d in report["documents"] if d["type"] != "CONTRL"]
        found = [
            *report["errors"],
            *(e for i in report["interchanges"] for e in i["errors"]),
            *(e for d in report["documents"] for e in d["errors"]),
        ]
        errors = sorted(found, key=lambda error: error["severity"] == "warning")  # errors first
        rows.append(
            {
                "name": name,
                "state": _state(partner, name),
                "outcome": words.get(name, "in progress"),
                "accepted": sum(1 for d in documents if d["status"] == "accepted"),
                "documents": len(documents),
                "first_error": f"[{errors[0]['code']}] {errors[0]['message']}" if errors else "",
            }
        )
    return rows


def _state(partner: Path, name: str) -> str:
    """Originals are filed as ``archive|quarantine/YYYY/MM/DD/<claim>__<name>``."""
    for area, state in (("archive", "archived"), ("quarantine", "quarantined")):
        if any((partner / area).rglob(f"*__{name}")):
            return state
    return "in inbox"


def _acknowledgement(outbox: Path, name: str, suffix: str) -> Path | None:
    """The demo's answer ``suffix`` to the file ``name``: ``<name>.<ledger file id>.<suffix>``."""
    return next(iter(sorted(outbox.glob(f"{glob.escape(name)}.*.{suffix}"))), None)


def print_account(settings: Settings) -> None:
    rows = file_rows(settings)
    print(f"\n{'file':<36} {'state':<12} {'outcome':<16} {'docs':>6}  first finding (errors before warnings)")
    for row in rows:
        error = row["first_error"][:80]
        print(
            f"{row['name']:<36} {row['state']:<12} {row['outcome']:<16} {row['accepted']:>2}/{row['documents']:<3}  "
            f"{error}"
        )
    archived = sum(1 for r in rows if r["state"] == "archived")
    print(
        f"\n{len(rows)} files: {archived} archived, {sum(1 for r in rows if r['state'] == 'quarantined')} quarantined; "
        f"{sum(r['accepted'] for r in rows)} of {sum(r['documents'] for r in rows)} messages accepted"
    )
    words = Counter(r["outcome"] for r in rows)
    print("outcomes: " + ", ".join(f"{words[w]} {w}" for w in WORDS if words[w]))
    outbox = settings.resolved_data_dir / "partners" / PARTNER / "outbox"
    for showcase in SHOWCASE:
        name = next((r["name"] for r in rows if r["name"].endswith(showcase)), None)
        for kind in ("contrl", "cusres"):
            path = _acknowledgement(outbox, name, f"{kind}.edi") if name else None
            if path is not None:
                print(f"\n--- {path.name}")
                print(path.read_text(encoding="latin-1").rstrip())
    print_portal_view(settings)


def print_portal_view(settings: Settings) -> None:
    """The portal's history of v01's transaction, fetched over HTTP."""
    from portal.client import PortalClient, PortalRequestError

    with PortalClient.from_settings(settings) as client:
        try:
            # v04 arrives long after v01's due date: an adjustment, pending until an operator approves it
            for pending in client.adjustments("pending"):
                if pending["transaction_number"] == SHOWCASE_TRANSACTION:
                    decided = client.decide(SHOWCASE_TRANSACTION, pending["version"], "approve", "demo-operator")
                    print(
                        f"\n--- portal: adjustment version {decided['version']} of {SHOWCASE_TRANSACTION} "
                        f"{decided['state']} by {decided['operator']} (difference {decided['difference']} CAD)"
                    )
            print(f"\n--- portal: GET {settings.portal_url}/v1/declarations/{SHOWCASE_TRANSACTION}")
            history = client.get_declaration(SHOWCASE_TRANSACTION)
        except PortalRequestError as error:
            print(error)
            return
    for version in history["versions"]:
        print(
            f"version {version['version']}: function {version['function']}, status {version['status']}, received {version['received_at']}"
        )
    outcome = history["latest"]["outcome"]
    print(
        f"latest (version {history['latest']['version']}): duty {outcome['total_duty']}, excise {outcome['total_excise']}, "
        f"GST {outcome['total_gst']} CAD"
    )


# --- payments ---------------------------------------------------------------------------------

PAYER = "bank01"  # the bank's folder: payments are processed after the declarations
ACCOUNT = "123456782RM0001"


def payment_files(statement: Any) -> dict[str, str]:
    """A pain.001 that pays v01's transaction (as the statement shows it) and a PAYMUL that
    pays every other outstanding declaration of the account, each with its own remittance."""
    outstanding = [(d.transaction_number, d.outstanding) for d in statement.debits if d.outstanding > 0]
    showcase = [(n, a) for n, a in outstanding if n == SHOWCASE_TRANSACTION]
    others = [(n, a) for n, a in outstanding if n != SHOWCASE_TRANSACTION]
    files = {}
    if showcase:
        number, amount = showcase[0]
        files["01_settle_v01.xml"] = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.09">
  <CstmrCdtTrfInitn>
    <GrpHdr><MsgId>DEMO-PAIN-1</MsgId><CreDtTm>2025-02-10T09:30:00</CreDtTm><NbOfTxs>1</NbOfTxs><CtrlSum>{amount}</CtrlSum>
      <InitgPty><Nm>MAPLE LEAF IMPORTS INC</Nm></InitgPty></GrpHdr>
    <PmtInf><PmtInfId>DEMO-PAIN-1-P1</PmtInfId><PmtMtd>TRF</PmtMtd><ReqdExctnDt><Dt>2025-02-10</Dt></ReqdExctnDt>
      <Dbtr><Nm>MAPLE LEAF IMPORTS INC</Nm></Dbtr><DbtrAcct><Id><Othr><Id>00012-003-1234567</Id></Othr></Id></DbtrAcct>
      <DbtrAgt><FinInstnId><BICFI>ROYCCAT2XXX</BICFI></FinInstnId></DbtrAgt>
      <CdtTrfTxInf><PmtId><EndToEndId>DEMO-E2E-1</EndToEndId></PmtId><Amt><InstdAmt Ccy="CAD">{amount}</InstdAmt></Amt>
        <Cdtr><Nm>RECEIVER GENERAL FOR CANADA</Nm></Cdtr>
        <RmtInf><Strd><RfrdDocInf><Nb>{number}</Nb></RfrdDocInf><RfrdDocAmt><RmtdAmt Ccy="CAD">{amount}</RmtdAmt></RfrdDocAmt>
          <CdtrRefInf><Ref>{ACCOUNT}</Ref></CdtrRefInf></Strd></RmtInf></CdtTrfTxInf>
    </PmtInf>
  </CstmrCdtTrfInitn>
</Document>
"""
    if others:
        total = sum((a for _, a in others), Decimal("0"))
        body = [
            "BGM+452+DEMO-PAYMUL-1+9",
            "DTM+137:20250210:102",
            "LIN+1",
            "DTM+203:20250210:102",
            f"MOA+9:{total}:CAD",
            "FII+OR+00012-003-1234567:MAPLE LEAF IMPORTS INC",
            "NAD+OY+++MAPLE LEAF IMPORTS INC",
            "SEQ++1",
            f"MOA+9:{total}:CAD",
            "RFF+CR:DEMO-E2E-2",
            "FII+BF+CBSA-EPAY",
            "PRC+8",
        ]
        for number, amount in others:
            body += [f"DOC+929+{number}", f"MOA+12:{amount}", f"RFF+ADE:{ACCOUNT}"]
        body.append("CNT+2:1")
        segments = ["UNH+1+PAYMUL:D:96B:UN:CARMPY", *body, f"UNT+{len(body) + 2}+1"]
        files["02_settle_others.edi"] = (
            "UNA:+.? '\nUNB+UNOC:3+BANK01:ZZZ+CARMGW:ZZZ+250210:0930+DEMOPAY1'\n"
            + "".join(f"{segment}'\n" for segment in segments)
            + "UNZ+1+DEMOPAY1'\n"
        )
    return files


def _print_statement(title: str, statement: Any) -> None:
    print(f"\n--- {title}: statement of {statement.account}")
    for debit in statement.debits:
        print(
            f"  {debit.transaction_number} v{debit.version}  period {debit.period} due {debit.due_date}  "
            f"assessed {debit.assessed:>9}  paid {debit.paid:>9}  outstanding {debit.outstanding:>9}"
        )
    for credit in statement.credits:
        print(
            f"  payment {credit.end_to_end_reference} ({credit.channel}) {credit.amount}: applied {credit.applied}, unapplied {credit.unapplied}"
        )
    print(
        f"  balance {statement.balance} CAD (assessed {statement.total_assessed}, paid {statement.total_paid}, unapplied {statement.unapplied})"
    )


def run_payments(settings: Settings, use_airflow: bool) -> bool:
    """After the declarations: the bank's payment files (pain.001 and PAYMUL) in partner
    bank01's inbox, through a second run of the DAG (or the pipeline), their
    acknowledgements, and the account balance going to zero."""
    from portal.client import PortalClient, PortalRequestError
    from portal.payments import PaymentClient

    with PortalClient.from_settings(settings) as client:
        payments = PaymentClient(client)
        try:
            before = payments.statement(ACCOUNT)
        except PortalRequestError as error:
            print(f"\nno statement for {ACCOUNT}: {error}")
            return False
        _print_statement("before the payments", before)
        inbox = settings.resolved_data_dir / "partners" / PAYER / "inbox"
        inbox.mkdir(parents=True, exist_ok=True)
        names = []
        for name, text in payment_files(before).items():
            (inbox / name).write_text(text, encoding="utf-8")
            names.append(name)
        print(f"\n{len(names)} payment files in {PAYER}'s inbox")
        completed = _run_dag(settings) if use_airflow else _run_pipeline(settings)
        outbox = inbox.parent / "outbox"
        for name in names:
            print(f"\n{name}: {'archived' if any((inbox.parent / 'archive').rglob(f'*__{name}')) else 'not archived'}")
            for kind in ("pain002.xml", "aperak.edi"):
                path = _acknowledgement(outbox, name, kind)
                if path is not None:
                    print(f"--- {path.name}")
                    print(path.read_text(encoding="utf-8").rstrip())
        _print_statement("after the payments", payments.statement(ACCOUNT))
    return completed
