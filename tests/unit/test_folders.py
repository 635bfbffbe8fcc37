"""Provider folders (functions/core/folders.py): which unique_id a video is submitted under, in which
order the sources win, how a bad one is refused, and that every later call about the video (the
callback's get_metadata, the reconciler's get_metadata and listings, delete_videos) names the folder
its record was submitted under, a record from before folders naming the default."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import pytest

from functions.core.callbacks import CallbackOutcome, CallbackService, Result
from functions.core.clock import iso
from functions.core.contract import CALLBACK_MAX_LENGTH, Accepted, ListedVideo, UploadRequest, trace_tag
from functions.core.deletes import DeleteConfig, Deleter
from functions.core.errors import SettingsError
from functions.core.folders import (
    FOLDER_MAX_LENGTH,
    Folders,
    folder_map_json,
    folder_problem,
    parse_folder_map,
)
from functions.core.ingest import Ingestor, Kind
from functions.core.objects import ObjectRef
from functions.core.reconcile import Reconciler
from functions.core.settings import IngestSettings
from functions.core.sidecar import read_sidecar, sidecar_key
from functions.core.signing import callback_url, callback_url_length, token_for
from functions.core.status import (
    DELETED,
    PARSE,
    QUEUED,
    REJECTED,
    SKIPPED,
    SUBMITTING,
    UNCERTAIN,
    UNPARSE,
    VideoRecord,
)
from ops.cli import provider_folder
from tests.unit.fakes import (
    BUCKET,
    SIGNING_KEY,
    T0,
    UNIQUE_ID,
    FakeClock,
    FakeMetrics,
    FakeObjects,
    FakeProvider,
    InMemoryStore,
    MakeIngestor,
    created,
    record,
)

MAP = (("customers/acme/", "acme"), ("customers/", "customers"), ("customers/acme/raw/", "acme-raw"))


class FolderProvider(FakeProvider):
    """memories.ai with folders: a video is known only in the folder it was uploaded to (``home``),
    and every question is logged with the folder it named."""

    def __init__(self) -> None:
        super().__init__()
        self.home: dict[str, str] = {}
        self.asked: list[tuple[str, str, str]] = []  # (call, folder, what)

    def upload_url(self, request: UploadRequest) -> Accepted:
        answer = super().upload_url(request)
        self.home[answer.video_no] = request.unique_id
        return answer

    def video_status(self, video_no: str, unique_id: str) -> str | None:
        self.asked.append(("get_metadata", unique_id, video_no))
        status = super().video_status(video_no, unique_id)
        return status if self.home.get(video_no) == unique_id else None

    def find_by_status(self, unique_id: str, status: str) -> Sequence[ListedVideo]:
        self.asked.append(("list_videos status", unique_id, status))
        return [
            v for v in super().find_by_status(unique_id, status) if self.home.get(v.video_no) == unique_id
        ]

    def find_by_tag(self, unique_id: str, tag: str) -> Sequence[ListedVideo]:
        self.asked.append(("list_videos tag", unique_id, tag))
        return [v for v in super().find_by_tag(unique_id, tag) if self.home.get(v.video_no) == unique_id]


@pytest.fixture
def provider() -> FolderProvider:
    return FolderProvider()


def drain(ingestor: Ingestor, clock: FakeClock) -> list[Kind]:
    return [o.kind for o in ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=60)]


# -- resolution and precedence -----------------------------------------------------------------------


def test_the_longest_matching_prefix_wins_and_other_keys_get_the_default() -> None:
    folders = Folders("main", parse_folder_map(json.dumps(dict(MAP))))
    assert folders.for_key("customers/acme/raw/a.mp4") == "acme-raw"
    assert folders.for_key("customers/acme/a.mp4") == "acme"
    assert folders.for_key("customers/zeta/a.mp4") == "customers"
    assert folders.for_key("customers") == "main"  # a prefix, not a substring
    assert folders.for_key("other/customers/acme/a.mp4") == "main"


def test_metadata_over_sidecar_over_map_over_default() -> None:
    folders = Folders("main", (("customers/acme/", "acme"),))
    key = "customers/acme/a.mp4"
    meta = {"unique-id": "from-meta"}
    assert folders.choose(key, meta, "from-sidecar").unique_id == "from-meta"
    assert folders.choose(key, {"Unique_ID": "from-meta"}, None).unique_id == "from-meta"  # any case
    assert folders.choose(key, {}, "from-sidecar").unique_id == "from-sidecar"
    assert folders.choose(key, {"unique-id": "  "}, None).unique_id == "acme"  # blank is not given
    assert folders.choose(key, {}, None).unique_id == "acme"
    assert folders.choose("elsewhere/a.mp4", {}, None).unique_id == "main"
    assert all(not folders.choose(key, m, s).problems for m, s in ((meta, None), ({}, "ok"), ({}, None)))


@pytest.mark.parametrize(
    "value", ["a b", "-lead", "x/y", "é", "a" * (FOLDER_MAX_LENGTH + 1), "tab\tin", "semi;colon"]
)
def test_a_bad_folder_value_is_a_problem_naming_where_it_came_from(value: str) -> None:
    assert folder_problem(value) is not None
    choice = Folders("main").choose("a.mp4", {"unique-id": value}, None)
    ((name, why),) = choice.problems
    assert name == "unique_id" and "x-amz-meta-unique-id" in why and "letters, digits" in why
    assert "sidecar" in Folders("main").choose("a.mp4", {}, value).problems[0][1]


@pytest.mark.parametrize("value", ["acme", "Acme-01", "a.b_c", "9", "a" * FOLDER_MAX_LENGTH])
def test_good_folder_values(value: str) -> None:
    assert folder_problem(value) is None


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("customers/acme/", "not JSON"),
        ('["acme"]', "JSON object"),
        ('{"": "acme"}', "empty prefix"),
        ('{"a/": 7}', "a folder is a string"),
        ('{"a/": "has space"}', "letters, digits"),
        (json.dumps({f"p{i}/": "f" for i in range(201)}), "at most 200"),
    ],
)
def test_a_bad_map_is_refused_at_cold_start_naming_the_variable(raw: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_folder_map(raw)
    with pytest.raises(SettingsError, match="PROVIDER_FOLDERS") as raised:
        IngestSettings.from_env({**INGEST_ENV, "PROVIDER_FOLDERS": raw})
    assert says in str(raised.value)


INGEST_ENV = {
    "STATUS_TABLE_NAME": "t",
    "SOURCE_BUCKET_NAME": "b",
    "MEMORIES_API_KEY_SECRET_ID": "k",
    "CALLBACK_BASE_URL": "https://cb.example.com/prod",
    "CALLBACK_SIGNING_SECRET_ID": "s",
}


def test_the_map_setting_round_trips_and_defaults_to_none() -> None:
    assert IngestSettings.from_env(INGEST_ENV).provider_folders == ()
    settings = IngestSettings.from_env({**INGEST_ENV, "PROVIDER_FOLDERS": folder_map_json(MAP)})
    assert settings.provider_folders == parse_folder_map(json.dumps(dict(MAP)))
    assert settings.provider_folders[0][0] == "customers/acme/raw/"  # longest first


def test_a_sidecar_may_name_the_folder() -> None:
    raw = json.dumps({"unique-id": "acme", "tags": ["a"]}).encode()
    sidecar = read_sidecar(raw, len(raw))
    assert (sidecar.unique_id, sidecar.fields.tags) == ("acme", ("a",))
    bad = json.dumps({"unique_id": 7}).encode()
    with pytest.raises(ValueError, match="unique_id must be a string"):
        read_sidecar(bad, len(bad))


# -- submission: the record names its folder before the call ------------------------------------------


def test_drops_under_two_prefixes_are_submitted_under_their_folders_recorded_before_the_call(
    make_ingestor: MakeIngestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FolderProvider,
    clock: FakeClock,
) -> None:
    ingestor = make_ingestor(provider_folders=parse_folder_map(json.dumps(dict(MAP))))
    keys = ("customers/acme/a.mp4", "customers/zeta/b.mp4", "loose/c.mp4")
    seen_at_call: dict[str, str | None] = {}
    original = provider.upload_url

    def upload(request: UploadRequest) -> Accepted:
        (stored,) = [r for r in store.all() if r.status == SUBMITTING]
        seen_at_call[stored.key] = stored.unique_id
        return original(request)

    provider.upload_url = upload  # type: ignore[method-assign]
    for key in keys:
        objects.add(key)
        ingestor.enqueue(created(key, version_id=f"v-{key}"))
        assert next(r for r in store.all() if r.key == key).unique_id == Folders(UNIQUE_ID, MAP).for_key(key)
    assert drain(ingestor, clock) == [Kind.SUBMITTED] * 3
    assert sorted(r.unique_id for r in provider.requests) == sorted(["acme", "customers", UNIQUE_ID])
    assert seen_at_call == {
        "customers/acme/a.mp4": "acme",
        "customers/zeta/b.mp4": "customers",
        "loose/c.mp4": UNIQUE_ID,
    }
    assert {r.key: r.unique_id for r in store.all()} == seen_at_call


def test_metadata_names_the_folder_over_the_map_and_the_record_follows_before_the_call(
    make_ingestor: MakeIngestor, store: InMemoryStore, objects: FakeObjects, provider: FolderProvider
) -> None:
    ingestor = make_ingestor(provider_folders=(("customers/acme/", "acme"),))
    objects.add("customers/acme/a.mp4", metadata={"unique-id": "special"})
    ingestor.enqueue(created("customers/acme/a.mp4"))
    writes_before = store.writes
    drain(ingestor, FakeClock())
    assert provider.requests[0].unique_id == "special"
    assert store.only().unique_id == "special" and store.only().status == UNPARSE
    # claim, the folder, the accepted answer
    assert store.writes - writes_before == 3


def test_the_usual_submission_makes_no_extra_write_for_its_folder(
    make_ingestor: MakeIngestor, store: InMemoryStore, objects: FakeObjects
) -> None:
    ingestor = make_ingestor(provider_folders=(("customers/acme/", "acme"),))
    objects.add("customers/acme/a.mp4")
    ingestor.enqueue(created("customers/acme/a.mp4"))
    writes_before = store.writes
    drain(ingestor, FakeClock())
    assert store.writes - writes_before == 2  # the claim and the accepted answer, as without folders


def test_the_sidecar_names_the_folder_under_metadata_and_over_the_map(
    make_ingestor: MakeIngestor, store: InMemoryStore, objects: FakeObjects, provider: FolderProvider
) -> None:
    ingestor = make_ingestor(read_sidecars=True, provider_folders=(("c/", "mapped"),))
    objects.add("c/a.mp4")
    objects.add(sidecar_key("c/a.mp4"), content=b'{"unique_id": "from-sidecar"}', size=29)
    objects.add("c/b.mp4", metadata={"unique-id": "from-meta"})
    objects.add(sidecar_key("c/b.mp4"), content=b'{"unique_id": "from-sidecar"}', size=29)
    clock = FakeClock()
    for key in ("c/a.mp4", "c/b.mp4"):
        ingestor.enqueue(created(key, version_id=key))
        clock.advance(60)
        drain(ingestor, clock)
    assert [r.unique_id for r in provider.requests] == ["from-sidecar", "from-meta"]


@pytest.mark.parametrize("where", ["metadata", "sidecar"])
def test_a_bad_folder_is_rejected_with_the_reason_and_nothing_is_sent(
    make_ingestor: MakeIngestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FolderProvider,
    where: str,
) -> None:
    ingestor = make_ingestor(read_sidecars=True)
    if where == "metadata":
        objects.add("a.mp4", metadata={"unique-id": "no spaces please"})
    else:
        objects.add("a.mp4")
        objects.add(sidecar_key("a.mp4"), content=b'{"unique_id": "no/slash"}', size=25)
    ingestor.enqueue(created("a.mp4"))
    drain(ingestor, FakeClock())
    saved = store.only()
    assert saved.status == REJECTED and provider.calls == 0
    assert (saved.reason or "").startswith("invalid metadata: unique_id")
    assert ("x-amz-meta-unique-id" if where == "metadata" else "sidecar") in (saved.reason or "")


def test_a_record_deleted_before_its_folder_is_written_is_not_submitted(
    make_ingestor: MakeIngestor, store: InMemoryStore, objects: FakeObjects, provider: FolderProvider
) -> None:
    ingestor = make_ingestor()
    objects.add("a.mp4", metadata={"unique-id": "other"})
    ingestor.enqueue(created("a.mp4"))

    def delete_meanwhile() -> None:
        current = store.only()
        store.put(replace(current.moved(DELETED, by="ingest", at=iso(T0)), revision=current.revision + 1))

    original_peek = objects.peek

    def peek_then_delete(*args: object, **kwargs: object) -> object:
        info = original_peek(*args, **kwargs)  # type: ignore[arg-type]
        store.before_next_save(delete_meanwhile)
        return info

    objects.peek = peek_then_delete  # type: ignore[assignment,method-assign]
    assert drain(ingestor, FakeClock()) == [Kind.DELETED]
    assert provider.calls == 0 and store.only().status == DELETED


# -- every later call about the video names its folder -------------------------------------------------


def in_folder(status: str, folder: str | None, video_no: str | None, key: str) -> VideoRecord:
    return record(status, ref=created(key, version_id=key), video_no=video_no, unique_id=folder)


def call_back(
    callbacks: CallbackService, record: VideoRecord, video_no: str, status: str, hint: str | None = None
) -> CallbackOutcome:
    """The provider's callback for ``record``, through its URL (with the folder ``hint`` it carries)."""
    body = json.dumps({"videoNo": video_no, "status": status}).encode()
    return callbacks.handle(record.video_id, token_for(SIGNING_KEY, record.video_id, T0), body, None, hint)


def deleter_for(
    store: InMemoryStore, objects: FakeObjects, provider: FakeProvider, clock: FakeClock, metrics: FakeMetrics
) -> Deleter:
    return Deleter(
        DeleteConfig(BUCKET, UNIQUE_ID, delete_at_provider=True),
        store=store,
        objects=objects,
        provider=provider,
        clock=clock,
        metrics=metrics,
    )


def test_the_callback_confirmation_is_asked_in_the_records_folder(
    callbacks: CallbackService, store: InMemoryStore, provider: FolderProvider
) -> None:
    seeded = store.put(in_folder(UNPARSE, "acme", "VI1", "a.mp4"))
    provider.home["VI1"] = "acme"
    provider.statuses["VI1"] = PARSE
    outcome = call_back(callbacks, seeded, "VI1", "PARSE")
    assert outcome.result is Result.APPLIED and store.only().status == PARSE
    # asked in the default folder first (no read), refused there, then in the record's own folder
    assert [(c, f) for c, f, _ in provider.asked] == [("get_metadata", UNIQUE_ID), ("get_metadata", "acme")]


@pytest.mark.parametrize(
    ("hint", "asked"),
    [
        ("acme", ["acme"]),  # the URL's hint: one question, no read
        ("zeta", ["zeta", "acme"]),  # a wrong hint: refused by the write, then the record's folder
        ("no/such thing", [UNIQUE_ID, "acme"]),  # a malformed hint is not asked at all
    ],
)
def test_the_urls_folder_hint_is_asked_first_and_the_write_insists_on_it(
    callbacks: CallbackService, store: InMemoryStore, provider: FolderProvider, hint: str, asked: list[str]
) -> None:
    seeded = store.put(in_folder(UNPARSE, "acme", "VI1", "a.mp4"))
    provider.home["VI1"] = "acme"
    provider.statuses["VI1"] = PARSE
    reads = store.reads
    outcome = call_back(callbacks, seeded, "VI1", "PARSE", hint)
    assert outcome.result is Result.APPLIED and store.only().status == PARSE
    assert [f for _, f, _ in provider.asked] == asked
    assert (store.reads == reads) is (asked == ["acme"])


def test_a_hint_naming_another_folder_cannot_pin_that_folders_number_on_the_record(
    callbacks: CallbackService, store: InMemoryStore, provider: FolderProvider
) -> None:
    """A captured URL of an "acme" video, its hint changed to the folder where VI-OTHER lives."""
    seeded = store.put(in_folder(SUBMITTING, "acme", None, "a.mp4"))
    provider.home["VI-OTHER"] = "zeta"
    provider.statuses["VI-OTHER"] = UNPARSE
    outcome = call_back(callbacks, seeded, "VI-OTHER", "UNPARSE", "zeta")
    assert outcome.result is Result.UNCONFIRMED
    assert (store.only().status, store.only().video_no) == (SUBMITTING, None)


def test_the_callback_url_names_a_folder_outside_the_default_and_stays_within_the_limit(
    make_ingestor: MakeIngestor, objects: FakeObjects, provider: FolderProvider, clock: FakeClock
) -> None:
    ingestor = make_ingestor(provider_folders=(("acme/", "acme"),))
    for key in ("acme/a.mp4", "b.mp4"):
        objects.add(key)
        ingestor.enqueue(created(key, version_id=key))
    drain(ingestor, clock)
    hints = {r.unique_id: parse_qs(urlsplit(r.callback).query).get("folder") for r in provider.requests}
    assert hints == {"acme": ["acme"], UNIQUE_ID: None}  # a default-folder URL is as before folders
    long_folder = "f" * FOLDER_MAX_LENGTH
    base = "https://" + "x" * (CALLBACK_MAX_LENGTH - callback_url_length("https://") - 10)
    assert callback_url_length(base) <= CALLBACK_MAX_LENGTH
    url = callback_url(base, SIGNING_KEY, "a" * 32, T0, **Folders(UNIQUE_ID).callback_hint(long_folder))
    assert "folder=" not in url and len(url) <= CALLBACK_MAX_LENGTH  # left out: the callback reads instead


@pytest.mark.parametrize("folder", [UNIQUE_ID, None])
def test_a_default_folder_record_and_one_from_before_folders_are_one_question_and_one_write(
    callbacks: CallbackService, store: InMemoryStore, provider: FolderProvider, folder: str | None
) -> None:
    seeded = store.put(in_folder(UNPARSE, folder, "VI1", "a.mp4"))
    provider.home["VI1"] = UNIQUE_ID
    provider.statuses["VI1"] = PARSE
    reads = store.reads
    call_back(callbacks, seeded, "VI1", "PARSE")
    assert store.only().status == PARSE and store.reads == reads
    assert provider.asked == [("get_metadata", UNIQUE_ID, "VI1")]


def test_a_video_number_from_the_default_folder_is_not_pinned_on_a_record_in_another(
    callbacks: CallbackService, store: InMemoryStore, provider: FolderProvider
) -> None:
    """A captured URL of a video submitted under "acme" claims the number of a default-folder video."""
    seeded = store.put(in_folder(SUBMITTING, "acme", None, "a.mp4"))
    provider.home["VI-OTHER"] = UNIQUE_ID
    provider.statuses["VI-OTHER"] = UNPARSE
    outcome = call_back(callbacks, seeded, "VI-OTHER", "UNPARSE")
    assert outcome.result is Result.UNCONFIRMED
    assert (store.only().status, store.only().video_no) == (SUBMITTING, None)


def test_the_reconciler_asks_each_record_in_its_folder_and_lists_once_per_folder(
    reconciler: Reconciler, store: InMemoryStore, provider: FolderProvider, clock: FakeClock
) -> None:
    store.put(in_folder(UNPARSE, "acme", "VI1", "a.mp4"))
    store.put(in_folder(UNPARSE, None, "VI2", "b.mp4"))
    uncertain = [
        in_folder(UNCERTAIN, folder, None, f"{name}.mp4")
        for name, folder in (("c", "acme"), ("d", "zeta"), ("e", "zeta"), ("f", None))
    ]
    for r in uncertain:
        store.put(r)
    provider.home.update({"VI1": "acme", "VI2": UNIQUE_ID, "VI3": "zeta"})
    provider.statuses.update({"VI1": PARSE, "VI2": PARSE})
    # the zeta upload of "d" is there, tagged (it parsed)
    provider.tagged[trace_tag(uncertain[1].video_id)] = [
        ListedVideo("VI3", PARSE, None, (trace_tag(uncertain[1].video_id),))
    ]
    clock.advance(3600)
    reconciler.run()
    metadata = sorted((f, v) for c, f, v in provider.asked if c == "get_metadata")
    assert metadata == sorted([(UNIQUE_ID, "VI2"), ("acme", "VI1")])
    listed = [f for c, f, _ in provider.asked if c == "list_videos status"]
    assert sorted(set(listed)) == sorted({"acme", "zeta", UNIQUE_ID})
    assert len(listed) == 3 * 5  # each folder once per pass, for each not-parsed status
    tags = sorted((f, t) for c, f, t in provider.asked if c == "list_videos tag")
    assert tags == sorted((r.folder(UNIQUE_ID), trace_tag(r.video_id)) for r in uncertain)
    by_key = {r.key: r for r in store.all()}
    assert (by_key["a.mp4"].status, by_key["b.mp4"].status) == (PARSE, PARSE)
    assert (by_key["d.mp4"].status, by_key["d.mp4"].video_no) == (PARSE, "VI3")
    assert by_key["c.mp4"].status == QUEUED  # nothing in acme: resubmitted, in line again


@pytest.mark.parametrize(("folder", "asked"), [("acme", "acme"), (None, UNIQUE_ID)])
def test_a_provider_delete_names_the_records_folder(
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FolderProvider,
    clock: FakeClock,
    metrics: FakeMetrics,
    folder: str | None,
    asked: str,
) -> None:
    store.put(in_folder(PARSE, folder, "VI9", "a.mp4"))
    deleter = deleter_for(store, objects, provider, clock, metrics)
    deleter.remove(ObjectRef(BUCKET, "a.mp4", 0, "a.mp4", None, "ObjectRemoved:Delete"))
    assert provider.deletes == [(["VI9"], asked)]
    assert store.only().status == DELETED


def test_an_upload_accepted_after_its_delete_is_deleted_in_its_folder(
    make_ingestor: MakeIngestor,
    store: InMemoryStore,
    objects: FakeObjects,
    provider: FolderProvider,
    clock: FakeClock,
    metrics: FakeMetrics,
) -> None:
    ingestor = make_ingestor(delete_at_provider=True, provider_folders=(("acme/", "acme"),))
    deleter = deleter_for(store, objects, provider, clock, metrics)
    objects.add("acme/a.mp4")
    ingestor.enqueue(created("acme/a.mp4"))
    original = provider.upload_url

    def upload_then_delete(request: UploadRequest) -> Accepted:
        deleter.remove(ObjectRef(BUCKET, "acme/a.mp4", 0, "v1", None, "ObjectRemoved:Delete"))
        return original(request)

    provider.upload_url = upload_then_delete  # type: ignore[method-assign]
    (outcome,) = ingestor.drain(deadline=clock.now() + 120, max_wait_seconds=60)
    assert outcome.kind == Kind.DELETED
    assert provider.deletes == [([outcome.video_no], "acme")]


# -- a sidecar's own notification (functions/core/sidecar.py) -----------------------------------------


def test_with_sidecars_on_a_sidecars_own_notification_is_skipped_naming_its_video(
    make_ingestor: MakeIngestor, store: InMemoryStore, objects: FakeObjects, provider: FolderProvider
) -> None:
    ingestor = make_ingestor(read_sidecars=True)
    objects.add("talks/talk.MP4.json", content=b"{}", size=2)
    outcome = ingestor.enqueue(created("talks/talk.MP4.json"))
    assert outcome.kind is Kind.SKIPPED
    saved = store.only()
    assert saved.status == SKIPPED and saved.reason == "skipped: sidecar metadata of talks/talk.MP4"
    assert saved.expires_at is not None  # an expiring entry, as every skip
    assert provider.calls == 0 and drain(ingestor, FakeClock()) == []
    # a .json that is nobody's sidecar is still not a video
    assert ingestor.enqueue(created("notes/readme.json")).kind is Kind.REJECTED


def test_with_sidecars_off_a_sidecar_is_rejected_as_not_a_video_as_before(
    ingestor: Ingestor, store: InMemoryStore
) -> None:
    assert ingestor.enqueue(created("talks/talk.mp4.json")).kind is Kind.REJECTED
    assert (store.only().reason or "").startswith("not a video")


def test_the_operators_show_names_the_records_folder_or_the_default_for_an_older_record() -> None:
    assert provider_folder(record(PARSE, unique_id="acme"), "main") == "acme"
    assert provider_folder(record(PARSE), "main") == "main"  # a record from before folders
    assert "MEMORIES_UNIQUE_ID" in provider_folder(record(PARSE), None)
