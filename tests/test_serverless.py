"""The CloudFormation template serverless.yml generates: what moto does not check.

moto accepts a bucket without Object Lock, a key that never rotates or a role allowed
everything; these tests read the template ``serverless package`` writes, offline and without
AWS credentials. They need the Serverless Framework from ``npm ci``; cfn-lint is run when it
is installed.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from archiver.storage.store import open_store
from archiver.storage.store.s3 import S3Store

REPO = Path(__file__).resolve().parents[1]
SERVERLESS = REPO / "node_modules" / ".bin" / "serverless"
SERVICE = "messaging-records-archiver"
FUNCTIONS = {"IngestLambdaFunction": "IngestRole", "SweepLambdaFunction": "SweepRole",
             "DispositionLambdaFunction": "DispositionRole"}
PEOPLE_ROLES = ("InvestigatorRole", "RecordsOfficerRole")  # assumed by people, with MFA
ROOT_PRINCIPAL = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
KEY_ARN = {"Fn::GetAtt": ["ArchiveKey", "Arn"]}
INBOX_KEY_ARN = {"Fn::GetAtt": ["InboxKey", "Arn"]}
OFFICER_TAG = "aws:PrincipalTag/archiver-custodian"
# The only wildcards a role's resource may end with: a log group's streams (Lambda names them)
# and the objects under a bucket prefix.
ALLOWED_WILDCARD = re.compile(r"(:log-group:/aws/lambda/[\w-]+:\*|:s3:::[\w${}:-]+(/[a-z]+)+/\*)$")

Template = dict[str, Any]


def _package(out: Path, stage: str, *params: str) -> tuple[Path, Template]:
    """Run ``serverless package`` on a copy of serverless.yml in ``out``, with no AWS credentials.

    A copy, because packaging first deletes the service's ``.serverless`` folder, and a test must
    not delete what a developer packaged in the work tree.
    """
    shutil.copy(REPO / "serverless.yml", out / "serverless.yml")
    artifact = out / "lambda.zip"  # packaging only names the code package: an empty zip stands for it
    zipfile.ZipFile(artifact, "w").close()
    env = {k: v for k, v in os.environ.items()
           if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")}
    env.update(SLS_TELEMETRY_DISABLED="1", SLS_NOTIFICATIONS_MODE="off", AWS_EC2_METADATA_DISABLED="true")
    command = [str(SERVERLESS), "package", "--stage", stage, "--region", "us-east-1",
               f"--param=artifact={artifact}", *(f"--param={p}" for p in params)]
    done = subprocess.run(command, cwd=out, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    path = out / ".serverless" / "cloudformation-template-update-stack.json"
    template: Template = json.loads(path.read_text())
    return path, template


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Template]]:
    """The trial stage ``ci`` as CI packages it, and a production stage with a records officer."""
    if not SERVERLESS.exists():
        pytest.skip("the Serverless Framework is not installed: run `npm ci` (Node.js and npm) to test the template")
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: the Serverless Framework needs it to package the template")
    templates = {}
    for stage, params in (("ci", ()), ("prod", ("recordsOfficer=records.officer@agency.gov",))):
        templates[stage] = _package(tmp_path_factory.mktemp(f"serverless-{stage}"), stage, *params)
    return templates


@pytest.fixture(scope="module")
def template(packaged: dict[str, tuple[Path, Template]]) -> Template:
    return packaged["ci"][1]


def _resources(template: Template, kind: str) -> dict[str, Any]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def _sub(value: Any) -> str:
    """The text of a plain string or an ``Fn::Sub`` (names are fixed strings in this template)."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub if isinstance(sub, str) else sub[0])
    assert isinstance(value, str), value
    return value


def _statements(template: Template, role: str) -> Iterator[dict[str, Any]]:
    for policy in template["Resources"][role]["Properties"]["Policies"]:
        yield from policy["PolicyDocument"]["Statement"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _allowed(template: Template, role: str) -> dict[str, set[str]]:
    """Action -> the resources the role is allowed it on."""
    allowed: dict[str, set[str]] = {}
    for statement in _statements(template, role):
        assert statement["Effect"] == "Allow"
        for action in _as_list(statement["Action"]):
            allowed.setdefault(action, set()).update(_resource(r) for r in _as_list(statement["Resource"]))
    return allowed


def _resource(value: Any) -> str:
    """A policy's resource: its ARN's text, or the resource of this stack it names (``InboxKey.Arn``)."""
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return ".".join(value["Fn::GetAtt"])
    return _sub(value)


def _bucket_name(template: Template, logical_id: str) -> str:
    return _sub(template["Resources"][logical_id]["Properties"]["BucketName"])


def test_archive_bucket_is_write_once_and_kept(packaged: dict[str, tuple[Path, Template]]) -> None:
    for stage, mode in (("ci", "GOVERNANCE"), ("prod", "COMPLIANCE")):
        bucket = packaged[stage][1]["Resources"]["ArchiveBucket"]
        properties = bucket["Properties"]
        assert properties["ObjectLockEnabled"] is True
        assert properties["VersioningConfiguration"] == {"Status": "Enabled"}
        lock = properties["ObjectLockConfiguration"]
        assert lock["ObjectLockEnabled"] == "Enabled"
        assert lock["Rule"]["DefaultRetention"]["Mode"] == mode
        assert int(lock["Rule"]["DefaultRetention"]["Days"]) >= 1
        assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == ("Retain", "Retain")
        # Lifecycle may abort leftover upload parts, never expire an object or a version.
        for rule in properties.get("LifecycleConfiguration", {}).get("Rules", []):
            assert set(rule) <= {"Id", "Status", "AbortIncompleteMultipartUpload"}, rule


def test_store_writes_each_object_in_the_bucket_mode(packaged: dict[str, tuple[Path, Template]],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    deployed = {"${AWS::AccountId}": "123456789012", "${AWS::Region}": "us-east-1"}
    for stage, mode in (("ci", "GOVERNANCE"), ("prod", "COMPLIANCE")):
        template = packaged[stage][1]
        url = _sub(template["Resources"]["IngestLambdaFunction"]["Properties"]["Environment"]["Variables"]
                   ["ARCHIVER_STORE"])
        for pseudo, value in deployed.items():
            url = url.replace(pseudo, value)
        store = open_store(url, REPO)  # the URL as the functions will read it
        assert isinstance(store, S3Store)
        assert (store.bucket, store.prefix, store.lock_mode) == (
            f"records-archiver-{stage}-archive-123456789012-us-east-1", "records/", mode)


def test_buckets_are_encrypted_private_and_tls_only(template: Template) -> None:
    for bucket, key in (("InboxBucket", INBOX_KEY_ARN), ("ArchiveBucket", KEY_ARN)):
        properties = template["Resources"][bucket]["Properties"]
        [rule] = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}
        assert rule["BucketKeyEnabled"] is True
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
        assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    policies = {p["Properties"]["Bucket"]["Ref"]: p["Properties"]["PolicyDocument"]
                for p in _resources(template, "AWS::S3::BucketPolicy").values()
                if "Ref" in p["Properties"]["Bucket"]}
    for bucket in ("InboxBucket", "ArchiveBucket", "ServerlessDeploymentBucket"):
        [deny] = [s for s in policies[bucket]["Statement"] if s["Effect"] == "Deny"
                  and str(s["Condition"]["Bool"]["aws:SecureTransport"]).lower() == "false"]
        assert (deny["Principal"], deny["Action"]) == ("*", "s3:*")
        assert len(deny["Resource"]) == 2  # the bucket and its objects


def test_inbox_invokes_the_ingest_function_and_forgets_exports(template: Template) -> None:
    inbox = template["Resources"]["InboxBucket"]
    [notification] = inbox["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert notification["Event"] == "s3:ObjectCreated:*"
    assert notification["Function"] == {"Fn::GetAtt": ["IngestLambdaFunction", "Arn"]}
    assert notification["Filter"] == {"S3Key": {"Rules": [{"Name": "prefix", "Value": "inbox/"}]}}
    permission = template["Resources"]["IngestInboxPermission"]["Properties"]
    assert (permission["Principal"], permission["Action"]) == ("s3.amazonaws.com", "lambda:InvokeFunction")
    assert permission["FunctionName"] == {"Fn::GetAtt": ["IngestLambdaFunction", "Arn"]}
    assert _sub(permission["SourceArn"]) == f"arn:${{AWS::Partition}}:s3:::{_bucket_name(template, 'InboxBucket')}"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert "IngestInboxPermission" in _as_list(inbox["DependsOn"])  # S3 checks it may invoke before it notifies
    # Exports are plaintext: unversioned (a delete removes them) and expired if never ingested.
    assert "VersioningConfiguration" not in inbox["Properties"]
    [rule] = inbox["Properties"]["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled" and 1 <= int(rule["ExpirationInDays"]) <= 14


def test_key_rotates_is_kept_and_serves_only_the_functions(template: Template) -> None:
    key = template["Resources"]["ArchiveKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    [alias] = _resources(template, "AWS::KMS::Alias").values()
    assert alias["Properties"] == {"AliasName": f"alias/{SERVICE}-ci", "TargetKeyId": {"Ref": "ArchiveKey"}}
    role_arns = [{"Fn::GetAtt": [role, "Arn"]} for role in (*FUNCTIONS.values(), "InvestigatorRole")]
    for statement in key["Properties"]["KeyPolicy"]["Statement"]:
        assert statement["Effect"] == "Allow" and statement["Resource"] == "*"  # "*" is this key
        principals = _as_list(statement["Principal"]["AWS"])
        if principals == [ROOT_PRINCIPAL]:
            continue  # the account administers the key through IAM
        assert all(p in role_arns for p in principals), principals
        assert set(_as_list(statement["Action"])) <= {"kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"}
        if set(_as_list(statement["Action"])) != {"kms:DescribeKey"}:
            assert "Condition" in statement  # envelope context, or through S3/SNS/SQS only


def test_the_inbox_key_serves_only_inbox_objects_through_s3(template: Template) -> None:
    key = template["Resources"]["InboxKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    inbox = f"arn:${{AWS::Partition}}:s3:::{_bucket_name(template, 'InboxBucket')}"
    using = [s for s in key["Properties"]["KeyPolicy"]["Statement"]
             if {"kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt", "kms:*"} & set(_as_list(s["Action"]))]
    [use] = using  # the account may grant it through IAM, but only through S3, for the inbox bucket
    assert set(use["Action"]) == {"kms:GenerateDataKey", "kms:Decrypt"}
    assert use["Principal"]["AWS"] == ROOT_PRINCIPAL
    condition = use["Condition"]["StringEquals"]
    assert _sub(condition["kms:ViaService"]) == "s3.${AWS::Region}.amazonaws.com"
    assert _sub(condition["kms:EncryptionContext:aws:s3:arn"]) == inbox
    ingest = [s for s in _statements(template, "IngestRole") if s["Resource"] == INBOX_KEY_ARN]
    assert [(s["Action"], s["Condition"]) for s in ingest] == [
        ("kms:Decrypt", {"StringEquals": {"kms:ViaService": {"Fn::Sub": "s3.${AWS::Region}.amazonaws.com"}}})]


def test_officers_drop_exports_only_in_their_own_inbox_folder(template: Template) -> None:
    policy = template["Resources"]["OfficerInboxPolicy"]
    assert policy["Type"] == "AWS::IAM::ManagedPolicy"
    statements = {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert all(s["Effect"] == "Allow" for s in statements.values())
    inbox = f"arn:${{AWS::Partition}}:s3:::{_bucket_name(template, 'InboxBucket')}"
    # "${!...}" is Fn::Sub's escape: CloudFormation writes "${aws:PrincipalTag/...}" for IAM to resolve.
    own_folder = "inbox/${!" + OFFICER_TAG + "}/*"
    drop = statements["DropExportsInOwnInboxFolder"]
    assert set(drop["Action"]) == {"s3:PutObject", "s3:AbortMultipartUpload"}
    assert _sub(drop["Resource"]) == f"{inbox}/{own_folder}"
    listing = statements["SeeOwnExportsWaiting"]
    assert (listing["Action"], _sub(listing["Resource"])) == ("s3:ListBucket", inbox)
    assert [_sub(prefix) for prefix in listing["Condition"]["StringLike"]["s3:prefix"]] == [own_folder]
    for statement in (drop, listing):  # an officer without the tag may do nothing
        assert statement["Condition"]["Null"] == {OFFICER_TAG: "false"}
    encrypt = statements["EncryptExportsWithTheInboxKey"]
    assert (set(encrypt["Action"]), encrypt["Resource"]) == ({"kms:GenerateDataKey", "kms:Decrypt"}, INBOX_KEY_ARN)
    assert set(statements) == {"DropExportsInOwnInboxFolder", "SeeOwnExportsWaiting", "EncryptExportsWithTheInboxKey"}
    actions = {a for s in statements.values() for a in _as_list(s["Action"])}
    assert not {a for a in actions if a.startswith(("s3:Get", "s3:Delete"))}  # never reads or removes


def test_catalog_table_layout_recovery_and_encryption(template: Template) -> None:
    table = template["Resources"]["CatalogTable"]
    properties = table["Properties"]
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert properties["TableName"] == f"{SERVICE}-ci-catalog"
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY_ARN}
    assert properties["DeletionProtectionEnabled"] is True
    assert properties["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}]
    indexes = {i["IndexName"]: i for i in properties["GlobalSecondaryIndexes"]}
    assert sorted(indexes) == ["gsi1", "gsi2", "gsi3", "gsi4"]
    for name, index in indexes.items():
        assert index["KeySchema"] == [{"AttributeName": f"{name}pk", "KeyType": "HASH"},
                                      {"AttributeName": f"{name}sk", "KeyType": "RANGE"}]
        assert index["Projection"] == {"ProjectionType": "ALL"}
    attributes = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    keys = ["pk", "sk", *(f"gsi{n}{k}" for n in range(1, 5) for k in ("pk", "sk"))]
    assert attributes == dict.fromkeys(keys, "S")


def test_failed_invocations_go_to_an_encrypted_queue(template: Template) -> None:
    queue = template["Resources"]["FailedInvocationsQueue"]["Properties"]
    assert queue["KmsMasterKeyId"] == KEY_ARN
    configs = {c["Properties"]["FunctionName"]["Ref"]: c["Properties"]
               for c in _resources(template, "AWS::Lambda::EventInvokeConfig").values()}
    assert set(configs) == set(FUNCTIONS)
    for config in configs.values():
        assert config["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailedInvocationsQueue",
                                                                                            "Arn"]}}}
    assert configs["IngestLambdaFunction"]["MaximumRetryAttempts"] == 2


def test_notices_topic_is_encrypted_and_the_officer_subscribed(packaged: dict[str, tuple[Path, Template]]) -> None:
    for stage, officer in (("ci", ""), ("prod", "records.officer@agency.gov")):
        template = packaged[stage][1]
        assert template["Resources"]["NoticesTopic"]["Properties"]["KmsMasterKeyId"] == KEY_ARN
        assert template["Parameters"]["RecordsOfficer"]["Default"] == officer
        subscription = template["Resources"]["RecordsOfficerSubscription"]
        assert subscription["Condition"] == "HasRecordsOfficer"
        assert subscription["Properties"] == {"TopicArn": {"Ref": "NoticesTopic"}, "Protocol": "email",
                                              "Endpoint": {"Ref": "RecordsOfficer"}}
    assert packaged["ci"][1]["Conditions"]["HasRecordsOfficer"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "RecordsOfficer"}, ""]}]}


def test_daily_schedules_run_the_sweeps(template: Template) -> None:
    rules = {r["Properties"]["Targets"][0]["Arn"]["Fn::GetAtt"][0]: r["Properties"]
             for r in _resources(template, "AWS::Events::Rule").values()}
    assert set(rules) == {"SweepLambdaFunction", "DispositionLambdaFunction"}
    for rule in rules.values():
        assert re.fullmatch(r"cron\(\d+ \d+ \* \* \? \*\)", rule["ScheduleExpression"]), rule  # once a day
        assert rule["State"] == "ENABLED"


def test_functions_run_the_handlers_with_their_own_roles(template: Template) -> None:
    functions = _resources(template, "AWS::Lambda::Function")
    assert set(functions) == set(FUNCTIONS)
    handlers = importlib.import_module("archiver.handlers")
    for name, function in functions.items():
        properties = function["Properties"]
        module, _, attribute = properties["Handler"].rpartition(".")
        assert module == "archiver.handlers" and callable(getattr(handlers, attribute))
        assert properties["Role"] == {"Fn::GetAtt": [FUNCTIONS[name], "Arn"]}
        assert properties["Runtime"] == "python3.11" and properties["Architectures"] in (["arm64"], ["x86_64"])
        assert properties["Timeout"] <= 900
        assert properties["Code"]["S3Key"].endswith("/lambda.zip")
    ingest = functions["IngestLambdaFunction"]["Properties"]
    assert (ingest["Handler"], ingest["Timeout"]) == ("archiver.handlers.ingest_handler", 900)
    assert functions["DispositionLambdaFunction"]["Properties"]["Handler"] == "archiver.handlers.disposition_handler"
    assert functions["SweepLambdaFunction"]["Properties"]["Handler"] == "archiver.handlers.sweep_handler"


def test_environment_names_the_deployed_resources(template: Template) -> None:
    archive = _bucket_name(template, "ArchiveBucket")
    table = template["Resources"]["CatalogTable"]["Properties"]["TableName"]
    topic = template["Resources"]["NoticesTopic"]["Properties"]["TopicName"]
    alias = template["Resources"]["ArchiveKeyAlias"]["Properties"]["AliasName"]
    for function in _resources(template, "AWS::Lambda::Function").values():
        env = function["Properties"]["Environment"]["Variables"]
        # the bucket's mode; S3 refuses overwrites itself, so the store writes without looking first
        assert _sub(env["ARCHIVER_STORE"]) == f"s3://{archive}/records?lock=GOVERNANCE&if-none-match=enforced"
        assert env["ARCHIVER_CATALOG"] == f"dynamodb://{table}"
        assert env["ARCHIVER_KEY"] == f"kms://{alias}"
        assert _sub(env["ARCHIVER_NOTIFIER"]) == f"sns://arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:{topic}"
        assert env["ARCHIVER_RECORDS_OFFICER"] == {"Ref": "RecordsOfficer"}


def test_roles_allow_only_what_each_function_does(template: Template) -> None:
    assert "BypassGovernanceRetention" not in json.dumps(template)
    every_role = _resources(template, "AWS::IAM::Role")
    assert set(every_role) == set(FUNCTIONS.values()) | set(PEOPLE_ROLES)
    roles = {name: every_role[name] for name in FUNCTIONS.values()}
    archive, inbox = _bucket_name(template, "ArchiveBucket"), _bucket_name(template, "InboxBucket")
    records = f"arn:${{AWS::Partition}}:s3:::{archive}/records/*"
    allowed = {role: _allowed(template, role) for role in roles}
    for role, actions in allowed.items():
        for action, resources in actions.items():
            assert "*" not in action, (role, action)
            for resource in resources:
                assert resource != "*" and ("*" not in resource or ALLOWED_WILDCARD.search(resource)), (role, resource)
        for resource in actions["logs:PutLogEvents"]:
            assert resource.endswith(f"/aws/lambda/{SERVICE}-ci-{role.removesuffix('Role').lower()}:*")
        assert len(actions["sqs:SendMessage"]) == 1
    # Only the ingest writes records and reads the inbox; no function destroys records (the
    # scheduled disposition only plans: records officers approve and execute).
    assert allowed["IngestRole"]["s3:PutObject"] == {records}
    # Records waiting on an event (and those an active hold covers) are written under legal hold.
    assert allowed["IngestRole"]["s3:PutObjectLegalHold"] == {records}
    assert allowed["IngestRole"]["s3:DeleteObject"] == {f"arn:${{AWS::Partition}}:s3:::{inbox}/inbox/*"}
    assert not any("s3:DeleteObjectVersion" in allowed[role] for role in ("SweepRole", "DispositionRole"))
    assert not any("s3:DeleteObject" in allowed[role] and records in allowed[role]["s3:DeleteObject"]
                   for role in roles)  # a delete marker would hide a record without destroying it
    heads = records.removesuffix("*") + "audit/head/*"
    assert allowed["SweepRole"]["s3:PutObject"] == {heads}
    assert allowed["DispositionRole"]["s3:PutObject"] == {heads, records.removesuffix("*") + "plans/*"}
    for role in ("SweepRole", "DispositionRole"):
        assert "s3:PutObjectRetention" not in allowed[role]
        assert not any(inbox in r for resources in allowed[role].values() for r in resources)
    assert [role for role in roles if "sns:Publish" in allowed[role]] == ["SweepRole"]


def test_roles_for_people_never_write_records_and_seal_audit_heads(template: Template) -> None:
    archive = _bucket_name(template, "ArchiveBucket")
    records = f"arn:${{AWS::Partition}}:s3:::{archive}/records/*"
    for role in PEOPLE_ROLES:
        allowed = _allowed(template, role)
        assert not {a for a in allowed if a.startswith(("s3:DeleteObject", "s3:Bypass"))} - {"s3:DeleteObjectVersion"}
        assert records not in allowed.get("s3:PutObject", set()), role  # never writes records themselves
        assert all("*" not in action for action in allowed), role
        assert records.removesuffix("*") + "audit/head/*" in allowed["s3:PutObject"], role
    # Records officers hold, date and destroy (what Object Lock allows); investigators only read.
    officer = _allowed(template, "RecordsOfficerRole")
    assert {"s3:PutObjectLegalHold", "s3:PutObjectRetention", "s3:DeleteObjectVersion"} <= set(officer)
    investigator = _allowed(template, "InvestigatorRole")
    assert not {a for a in investigator if not a.startswith(("s3:Get", "s3:List", "dynamodb:"))} - {"s3:PutObject"}


def _cfn_lint() -> list[str]:
    if importlib.util.find_spec("cfnlint") is None:
        pytest.skip("cfn-lint is not installed (pip install cfn-lint)")
    return [sys.executable, "-m", "cfnlint", "--format", "parseable"]


def test_templates_pass_cfn_lint(packaged: dict[str, tuple[Path, Template]]) -> None:
    command = _cfn_lint()
    for path, _ in packaged.values():
        done = subprocess.run([*command, str(path)], capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode & 2 == 0, done.stdout + done.stderr  # bit 2: errors (4 is warnings)


# ---- serverless.yml itself, read as YAML (no Serverless Framework needed) ------------------------

class _CloudFormationLoader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Sub, !GetAtt, ...) as their long ``Fn::`` forms."""


def _tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = value.split(".", 1)
        return {name: value}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def source() -> Template:
    """serverless.yml's own resources, as written."""
    document = yaml.load((REPO / "serverless.yml").read_text(encoding="utf-8"), Loader=_CloudFormationLoader)
    resources: Template = document["resources"]
    return resources


def _key_statements(resources: Template, action: str) -> list[dict[str, Any]]:
    statements = resources["Resources"]["ArchiveKey"]["Properties"]["KeyPolicy"]["Statement"]
    return [s for s in statements
            if any(a in (action, "kms:*", "*") for a in _as_list(s["Action"])) and s["Effect"] == "Allow"]


def test_only_investigators_and_the_functions_can_decrypt(source: Template) -> None:
    decrypting = [p for s in _key_statements(source, "kms:Decrypt") for p in _as_list(s["Principal"]["AWS"])]
    assert decrypting, "some principal must be able to open the archive"
    assert "*" not in decrypting and {"Fn::GetAtt": ["RecordsOfficerRole", "Arn"]} not in decrypting
    # The account's root would let any IAM policy in the account grant decryption.
    assert not [p for p in decrypting if isinstance(p, dict) and "Fn::Sub" in p and ":root" in p["Fn::Sub"]]
    assert {"Fn::GetAtt": ["InvestigatorRole", "Arn"]} in decrypting
    functions_and_investigators = {"IngestRole", "SweepRole", "DispositionRole", "InvestigatorRole"}
    assert {p["Fn::GetAtt"][0] for p in decrypting} <= functions_and_investigators


def test_people_have_their_own_roles_assumed_with_mfa(source: Template) -> None:
    for role in ("InvestigatorRole", "RecordsOfficerRole"):
        properties = source["Resources"][role]["Properties"]
        [trust] = properties["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
        actions = {a for policy in properties["Policies"] for statement in policy["PolicyDocument"]["Statement"]
                   for a in _as_list(statement["Action"])}
        assert not {a for a in actions if a.startswith("kms:") or a == "*" or a.endswith(":*")}, actions
        assert "s3:BypassGovernanceRetention" not in actions
        # Only records officers destroy (dispose execute, after approval; Object Lock refuses early).
        assert ("s3:DeleteObjectVersion" in actions) == (role == "RecordsOfficerRole"), role
