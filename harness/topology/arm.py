"""Import an HDInsight ARM template (Kafka + Spark in a VNet) as a twin topology.

Users describe their Azure deployment in an ARM template; reading it means the twin is built from
the same counts, sizes and names instead of a hand-copied profile. Only what a profile needs is
read (cluster kinds and names, roles, counts, VM sizes, disks, VNet and subnet prefixes, versions).
The Kafka cluster's clusterVersion chooses the twin's release, so a 5.1 template is tested against
HDInsight 5.1's Kafka and Spark rather than today's.

Templates are evaluated as far as the simple expression language they use allows: parameters
(defaults, overridden by a parameters file), variables, concat, resourceId, toLower/toUpper, member
access and `[[` escapes, plus stand-ins for what only Azure knows (resourceGroup(), subscription(),
uniqueString()): stable, so names built from them resolve and match each other, but not Azure's
values. Anything else (`if`, `reference`, ...) is recorded as an "unresolved" entry with its JSON
path, and the importer falls back to a stated default: a template it cannot fully evaluate still
gives a usable, honestly annotated profile.
"""

from __future__ import annotations

import hashlib
import json
import re
from ipaddress import IPv4Network
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.topology.azure import DeploymentProfile
from harness.topology.vm_sizes import VM_SIZES
from harness.errors import ConfigError
from harness.topology.loader import describe_validation_error
from harness.topology.model import Topology
from harness.versions import DEFAULT_RELEASE, RELEASES, Release

HDINSIGHT = "microsoft.hdinsight/clusters"
VIRTUAL_NETWORK = "microsoft.network/virtualnetworks"
SUBNET = "microsoft.network/virtualnetworks/subnets"
DEFAULT_ADDRESS_SPACE = "10.0.0.0/16"
DEFAULT_SUBNET = "10.0.0.0/24"
DEFAULT_COUNTS = {"headnode": 2, "workernode": 4, "zookeepernode": 3}
ROLE_NAMES = {"headnode": "head", "workernode": "worker", "zookeepernode": "zookeeper"}
ZOOKEEPER_VM = "Standard_A2_v2"
"""Assumed for ZooKeeper nodes a template does not list (the size Microsoft's Kafka samples give them)."""
_ALNUM = "0123456789abcdefghijklmnopqrstuvwxyz"
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"

STAND_IN_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
STAND_IN_RESOURCE_GROUP = "harness-twin"
STAND_IN_LOCATION = "eastus"
"""What resourceGroup(), subscription() and resourceId() say where only a deployment would know."""

SUPPORTED_VERSIONS = {(5, 1): "hdinsight-5.1"}
"""HDInsight clusterVersion (major, minor) -> the release that runs the same Kafka and Spark lines."""
NEAREST_SUPPORTED = "hdinsight-5.1"
RETIRED_VERSIONS = {(4, 0): "31 March 2025", (5, 0): "31 March 2025"}
"""Retirement dates from Microsoft's HDInsight 5.x component-versioning page; older versions retired earlier."""
_KNOWN_VERSIONS = (
    ", ".join(f"{a}.{b}" for a, b in SUPPORTED_VERSIONS) + " and the retired " + ", ".join(f"{a}.{b}" for a, b in RETIRED_VERSIONS)
)


# ------------------------------------------------------------------------------------ expressions


@dataclass(frozen=True)
class Unresolved:
    """A value the importer could not evaluate; it travels through the evaluation instead of raising."""

    path: str
    expression: str
    reason: str
    origin: str | None = None

    def entry(self) -> str:
        where = f" (at {self.origin})" if self.origin else ""
        return f"{self.path}: {self.expression} -- {self.reason}{where}"


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<num>-?\d+)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<punct>[(),.\[\]]))"
)


class _Parser:
    """Recursive descent over ARM's expression grammar: literals, calls, `.member` and `[index]`."""

    def __init__(self, text: str) -> None:
        self.tokens = self._tokenize(text)
        self.pos = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens, pos = [], 0
        while pos < len(text.rstrip()):
            match = _TOKEN.match(text, pos)
            if match is None:
                raise ValueError(f"unexpected character {text[pos:].lstrip()[:1]!r}")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            pos = match.end()
        return tokens

    def parse(self) -> tuple[Any, ...]:
        node = self._postfix()
        if self.pos != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.pos][1]!r}")
        return node

    def _next(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ValueError("expression ends too early")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _peek(self, value: str) -> bool:
        return self.pos < len(self.tokens) and self.tokens[self.pos] == ("punct", value)

    def _expect(self, value: str) -> None:
        if self._next() != ("punct", value):
            raise ValueError(f"expected {value!r}")

    def _postfix(self) -> tuple[Any, ...]:
        node = self._primary()
        while self._peek(".") or self._peek("["):
            if self._next()[1] == ".":
                kind, name = self._next()
                if kind != "id":
                    raise ValueError(f"expected a member name after '.', got {name!r}")
                node = ("member", node, ("lit", name))
            else:
                node = ("member", node, self._postfix())
                self._expect("]")
        return node

    def _primary(self) -> tuple[Any, ...]:
        kind, text = self._next()
        if kind == "str":
            return ("lit", text[1:-1].replace("''", "'"))
        if kind == "num":
            return ("lit", int(text))
        if kind != "id":
            raise ValueError(f"unexpected {text!r}")
        self._expect("(")
        args: list[tuple[Any, ...]] = []
        while not self._peek(")"):
            if args:
                self._expect(",")
            args.append(self._postfix())
        self._expect(")")
        return ("call", text, tuple(args))


class TemplateResolver:
    """Evaluates template values against parameters and variables, lazily and with cycle detection."""

    def __init__(self, template: Mapping[str, Any], parameter_values: Mapping[str, Any] | None = None) -> None:
        self.declared = _casefold_keys(template.get("parameters") or {})
        self.raw_variables = _casefold_keys(template.get("variables") or {})
        self.values = _casefold_keys(parameter_values or {})
        self._variables: dict[str, Any] = {}
        self._in_progress: set[str] = set()
        self._functions: dict[str, Callable[..., Any]] = {
            "parameters": self.parameter, "variables": self.variable, "concat": _concat,
            "resourceid": _resource_id, "tolower": _case(str.lower), "toupper": _case(str.upper),
            "uniquestring": _unique_string, "resourcegroup": self.resource_group, "subscription": _subscription,
        }

    def resolve(self, value: Any, path: str) -> Any:
        """Deep-evaluate a JSON value; unresolvable parts become `Unresolved` objects in place."""
        if isinstance(value, str):
            return self._string(value, path)
        if isinstance(value, dict):
            return {k: self.resolve(v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, f"{path}[{i}]") for i, v in enumerate(value)]
        return value

    def parameter(self, name: str) -> Any:
        key = str(name).lower()
        if key not in self.declared:
            return Unresolved(f"parameters.{name}", f"parameters('{name}')", "the template declares no such parameter")
        if key in self.values:
            return self.values[key][1]
        declaration = self.declared[key][1]
        if isinstance(declaration, dict) and "defaultValue" in declaration:
            return self.resolve(declaration["defaultValue"], f"parameters.{self.declared[key][0]}.defaultValue")
        return Unresolved(f"parameters.{self.declared[key][0]}", f"parameters('{name}')", "no defaultValue and no value in a parameters file")

    def variable(self, name: str) -> Any:
        key = str(name).lower()
        if key not in self.raw_variables:
            return Unresolved(f"variables.{name}", f"variables('{name}')", "the template declares no such variable")
        if key in self._in_progress:
            return Unresolved(f"variables.{name}", f"variables('{name}')", "variables refer to each other in a cycle")
        if key not in self._variables:
            self._in_progress.add(key)
            original, raw = self.raw_variables[key]
            self._variables[key] = self.resolve(raw, f"variables.{original}")
            self._in_progress.discard(key)
        return self._variables[key]

    def resource_group(self, *args: Any) -> dict[str, Any]:
        """A stand-in for the group deployed into. Its location is the parameters file's `location` when
        that is a plain name (the group usually lives there), else eastus; the twin never reads it."""
        if args:
            raise TypeError("takes no arguments here (another resource group's scope is not modelled)")
        given = self.values.get("location", (None, None))[1]
        location = given if isinstance(given, str) and not given.startswith("[") else STAND_IN_LOCATION
        return {
            "id": f"/subscriptions/{STAND_IN_SUBSCRIPTION}/resourceGroups/{STAND_IN_RESOURCE_GROUP}",
            "name": STAND_IN_RESOURCE_GROUP, "type": "Microsoft.Resources/resourceGroups", "location": location,
            "tags": {}, "properties": {"provisioningState": "Succeeded"},
        }

    def _string(self, text: str, path: str) -> Any:
        if text.startswith("[["):
            return text[1:]
        if not (text.startswith("[") and text.endswith("]")):
            return text
        try:
            tree = _Parser(text[1:-1]).parse()
        except ValueError as exc:
            return Unresolved(path, text, f"cannot parse: {exc}")
        result = self._evaluate(tree, path, text)
        if isinstance(result, Unresolved) and result.path != path:
            return Unresolved(path, text, result.reason, result.origin or f"{result.path}: {result.expression}")
        return result

    def _evaluate(self, node: tuple[Any, ...], path: str, text: str) -> Any:
        if node[0] == "lit":
            return node[1]
        if node[0] == "member":
            return _member(self._evaluate(node[1], path, text), self._evaluate(node[2], path, text), path, text)
        name, args = node[1], [self._evaluate(arg, path, text) for arg in node[2]]
        function = self._functions.get(name.lower())
        if function is None:
            return Unresolved(path, text, f"function {name}() is not supported by the importer")
        failed = next((a for a in args if isinstance(a, Unresolved)), None)
        if failed is not None:
            return failed
        try:
            return function(*args)
        except (TypeError, ValueError) as exc:
            return Unresolved(path, text, f"{name}(): {exc}")


def resolve_value(value: Any, *, parameters: Mapping[str, Any] | None = None, variables: Mapping[str, Any] | None = None) -> Any:
    """Evaluate one template value in a tiny template (`parameters` as declarations); for checks and tests."""
    template = {"parameters": dict(parameters or {}), "variables": dict(variables or {})}
    return TemplateResolver(template).resolve(value, "$")


def _casefold_keys(mapping: Mapping[str, Any]) -> dict[str, tuple[str, Any]]:
    """ARM names are case-insensitive: `parameters('ClusterName')` finds `clusterName`."""
    return {str(k).lower(): (str(k), v) for k, v in mapping.items()} if isinstance(mapping, Mapping) else {}


def _member(target: Any, key: Any, path: str, text: str) -> Any:
    for value in (target, key):
        if isinstance(value, Unresolved):
            return value
    if isinstance(target, dict) and isinstance(key, str):
        for k, v in target.items():
            if k.lower() == key.lower():
                return v
    elif isinstance(target, list) and isinstance(key, int) and -len(target) <= key < len(target):
        return target[key]
    return Unresolved(path, text, f"no member {key!r} in {type(target).__name__}")


def _concat(*args: Any) -> Any:
    if all(isinstance(a, list) for a in args):
        return [item for a in args for item in a]
    if any(isinstance(a, (dict, list)) for a in args):
        raise TypeError("mixes strings with objects or arrays")
    return "".join(str(a).lower() if isinstance(a, bool) else str(a) for a in args)


def _case(change: Callable[[str], str]) -> Callable[[Any], str]:
    def apply(value: Any) -> str:
        if not isinstance(value, str):
            raise TypeError(f"expects a string, got {type(value).__name__}")
        return change(value)

    return apply


def _unique_string(*args: Any) -> str:
    """A stand-in for Azure's uniqueString(): 13 characters of [a-z2-7], like Azure's, hashed (SHA-256)
    from the arguments. Azure's own hash is not reproduced, so a name built with it is stable from one
    import to the next and the same wherever the template uses it, but is not the name Azure deploys."""
    if not args:
        raise TypeError("needs at least one argument")
    if not all(isinstance(a, str) for a in args):
        raise TypeError("expects strings")
    digest = hashlib.sha256(json.dumps(list(args)).encode()).digest()
    number = int.from_bytes(digest[:9], "big") >> 7  # 65 bits: 13 base-32 digits
    chars = []
    for _ in range(13):
        number, digit = divmod(number, len(_BASE32))
        chars.append(_BASE32[digit])
    return "".join(chars)


def _subscription(*args: Any) -> dict[str, Any]:
    """A stand-in subscription, the one resourceGroup() and resourceId() place resources in."""
    if args:
        raise TypeError("takes no arguments")
    return {
        "id": f"/subscriptions/{STAND_IN_SUBSCRIPTION}", "subscriptionId": STAND_IN_SUBSCRIPTION,
        "tenantId": STAND_IN_SUBSCRIPTION, "displayName": STAND_IN_RESOURCE_GROUP,
    }


def _resource_id(*args: Any) -> str:
    """A readable resource id in the stand-in subscription and resource group unless the call names them."""
    if not all(isinstance(a, str) for a in args):
        raise TypeError("expects strings")
    type_at = next((i for i, a in enumerate(args) if "/" in a), None)
    if type_at is None or type_at > 2:
        raise ValueError("no resource type such as 'Microsoft.Network/virtualNetworks'")
    scope = list(args[:type_at])
    subscription = scope[0] if len(scope) == 2 else STAND_IN_SUBSCRIPTION
    group = scope[-1] if scope else STAND_IN_RESOURCE_GROUP
    namespace, *types = args[type_at].split("/")
    names = args[type_at + 1 :]
    if len(names) != len(types):
        raise ValueError(f"resource type {args[type_at]} needs {len(types)} name(s), got {len(names)}")
    segments = "/".join(f"{t}/{n}" for t, n in zip(types, names))
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/{namespace}/{segments}"


# --------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class _Role:
    name: str
    count: int
    vm_size: str
    disks: int


@dataclass(frozen=True)
class _Cluster:
    name: str
    kind: str
    roles: tuple[_Role, ...]
    vnet: str | None
    subnet: str | None
    version: str
    cluster_version: str | None = None
    components: tuple[tuple[str, str], ...] = ()

    @property
    def title(self) -> str:
        return f"{self.kind.capitalize()} cluster {self.name!r}"


@dataclass(frozen=True)
class _VNet:
    name: str
    prefixes: tuple[str, ...]
    subnets: dict[str, str]


class _Reader:
    """Walks resolved resources, collecting unresolved entries and warnings as it goes."""

    def __init__(self) -> None:
        self.unresolved: list[str] = []
        self.warnings: list[str] = []

    def get(self, node: Any, *keys: str) -> Any:
        """`node[k1][k2]...` with case-insensitive keys; None when absent or unresolved (then recorded).

        An Unresolved value carries its own JSON path, so callers need not pass one.
        """
        for key in keys:
            if isinstance(node, Unresolved):
                break
            if not isinstance(node, dict):
                return None
            node = next((v for k, v in node.items() if k.lower() == key.lower()), None)
        if isinstance(node, Unresolved):
            self.note(node)
            return None
        return node

    def note(self, item: Unresolved) -> None:
        if item.entry() not in self.unresolved:
            self.unresolved.append(item.entry())

    def warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)

    def cluster(self, resource: dict[str, Any], path: str) -> _Cluster | None:
        name = self.get(resource, "name")
        kind = self.get(resource, "properties", "clusterDefinition", "kind")
        if not isinstance(kind, str):
            self.warn(f"{path}: an HDInsight cluster whose clusterDefinition.kind could not be read is skipped")
            return None
        if not isinstance(name, str):
            name = ""  # the builder decides: fatal for the Kafka cluster, a skip for others
        roles = self.get(resource, "properties", "computeProfile", "roles") or []
        read = [self.role(r, f"{path}.properties.computeProfile.roles[{i}]") for i, r in enumerate(roles)]
        vnet, subnet = self.network(roles)
        cluster_version = self.get(resource, "properties", "clusterVersion")
        return _Cluster(
            name=name, kind=kind.lower(), roles=tuple(r for r in read if r is not None), vnet=vnet, subnet=subnet,
            version=self.version(resource),
            cluster_version=_version_text(cluster_version),
            components=self.components(resource),
        )

    def role(self, role: Any, path: str) -> _Role | None:
        name = str(self.get(role, "name") or "").lower()
        if name not in ROLE_NAMES:
            self.warn(f"{path}: role {name or '(unnamed)'!r} is not modelled by the twin and is skipped")
            return None
        count = self.number(role, path, name, "targetInstanceCount", default=DEFAULT_COUNTS[name])
        vm = self.get(role, "hardwareProfile", "vmSize")
        if not isinstance(vm, str):
            vm = "Standard_D13_v2"
            self.warn(f"{path}.hardwareProfile.vmSize is missing or unresolved; assumed {vm}")
        groups = self.get(role, "dataDisksGroups") or []
        disks = sum(self.number(g, f"{path}.dataDisksGroups[{i}]", name, "disksPerNode", default=0) for i, g in enumerate(groups))
        return _Role(name=name, count=count, vm_size=_canonical_vm(vm), disks=disks)

    def number(self, node: Any, path: str, role: str, key: str, *, default: int) -> int:
        known = len(self.unresolved)
        value = self.get(node, key)
        if (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.strip().isdigit()):
            return int(value)
        problem = "is unresolved" if len(self.unresolved) > known else "is missing" if value is None else f"is not a number ({value!r})"
        self.warn(f"{path}.{key} of {role} {problem}; assumed {default}")
        return default

    def network(self, roles: list[Any]) -> tuple[str | None, str | None]:
        """The VNet and subnet named by the roles' virtualNetworkProfile (all roles share one in HDInsight)."""
        for role in roles:
            vnet_id = self.get(role, "virtualNetworkProfile", "id")
            subnet = self.get(role, "virtualNetworkProfile", "subnet")
            if isinstance(vnet_id, str):
                return _last_segment(vnet_id, "virtualNetworks"), _last_segment(subnet, "subnets") if isinstance(subnet, str) else None
        return None, None

    def version(self, resource: dict[str, Any]) -> str:
        parts = [f"HDInsight {self.get(resource, 'properties', 'clusterVersion') or '?'}"]
        return ", ".join(parts + [f"{k} {v}" for k, v in self.components(resource)])

    def components(self, resource: dict[str, Any]) -> tuple[tuple[str, str], ...]:
        """componentVersion, e.g. (("Kafka", "3.2"),); unresolved entries are left out (and recorded)."""
        found = self.get(resource, "properties", "clusterDefinition", "componentVersion") or {}
        if not isinstance(found, dict):
            return ()
        return tuple((str(k), str(v)) for k in found if (v := self.get(found, k)) is not None)

    def vnet(self, resource: dict[str, Any]) -> _VNet | None:
        name = self.get(resource, "name")
        if not isinstance(name, str):
            return None
        prefixes = self.get(resource, "properties", "addressSpace", "addressPrefixes") or []
        subnets: dict[str, str] = {}
        for subnet in self.get(resource, "properties", "subnets") or []:
            self.add_subnet(subnets, self.get(subnet, "name"), self.get(subnet, "properties"))
        return _VNet(name=name, prefixes=tuple(p for p in prefixes if isinstance(p, str)), subnets=subnets)

    def add_subnet(self, subnets: dict[str, str], name: Any, properties: Any) -> None:
        """Subnets come inline in the VNet or as child resources named `vnet/subnet`; both land here."""
        prefix = self.get(properties, "addressPrefix")
        if prefix is None:
            prefix = next(iter(self.get(properties, "addressPrefixes") or []), None)
        if isinstance(name, str) and isinstance(prefix, str):
            subnets[name.lower()] = prefix


def _version_text(value: Any) -> str | None:
    """clusterVersion as text; JSON may give it as a number (5.1), and Azure also accepts "5.1.3000.0.2308052231"."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return str(value).strip() or None


def _last_segment(resource_id: str, collection: str) -> str:
    """`.../virtualNetworks/vnet1/subnets/default` -> `vnet1` for collection virtualNetworks; a bare name stays."""
    match = re.search(rf"/{collection}/([^/]+)", resource_id, flags=re.IGNORECASE)
    return match.group(1) if match else resource_id.rstrip("/").rsplit("/", 1)[-1]


def _canonical_vm(name: str) -> str:
    """Catalog spelling for known sizes (templates write `Standard_A2_V2` too); others stay as written."""
    return next((known for known in VM_SIZES if known.lower() == name.strip().lower()), name.strip())


# -------------------------------------------------------------------------------------- building


@dataclass(frozen=True)
class ArmImport:
    """The topology read from a template, the Azure profile it implies, and what could not be read."""

    topology: Topology
    deployment: DeploymentProfile | None
    unresolved: tuple[str, ...]
    warnings: tuple[str, ...]
    source: Path
    versions: tuple[tuple[str, str], ...] = ()
    release_reason: str = ""

    def to_yaml(self) -> str:
        """A profile file `load_profile` reads back to an equal Topology; what was guessed is in comments."""
        lines = [f"# Imported from the ARM template {self.source.name} by harness.topology.arm."]
        lines += ["# Racks (FDxUDy) and the VNet DNS suffix are made up: Azure assigns the real ones at deployment."]
        lines += [f"# cluster {name}: {text}" for name, text in self.versions]
        lines += [f"# {self.release_reason}"] if self.release_reason else []
        lines += [f"# unresolved: {_one_line(entry)}" for entry in self.unresolved]
        lines += [f"# warning: {_one_line(entry)}" for entry in self.warnings]
        data = self.topology.model_dump(mode="json", exclude_none=True)
        for cluster in data["clusters"]:
            for group in cluster["nodes"]:
                _drop_if(group, disks=0, kafka=[])
        body = yaml.dump(data, Dumper=_ProfileDumper, sort_keys=False, allow_unicode=True, width=1000)
        return "\n".join(lines) + "\n" + body


def _drop_if(mapping: dict[str, Any], **defaults: Any) -> None:
    """Leave out fields that only repeat the model's default, as hand-written profiles do."""
    for key, default in defaults.items():
        if mapping.get(key) == default:
            del mapping[key]


class _ProfileDumper(yaml.SafeDumper):
    """Lists of scalars on one line (`racks: [FD0UD0, FD1UD1]`), as the built-in profiles write them."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(not isinstance(item, (dict, list)) for item in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_ProfileDumper.add_representer(list, _represent_list)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def topology_from_arm(template: Path, parameters: Path | None = None, *, dns_suffix: str | None = None) -> ArmImport:
    """Read an HDInsight Kafka (+ Spark) template, optionally with a parameters file, into a twin topology.

    `dns_suffix` sets the Kafka cluster's VNet suffix; otherwise one is derived from the VNet name,
    so the same template always gives the same host names.
    """
    template = Path(template)
    document = _read_json(template)
    values, undeclared = _parameter_values(Path(parameters), document) if parameters is not None else ({}, [])
    builder = _Builder(template, document, values)
    for name in undeclared:
        builder.reader.warn(f"parameters file {Path(str(parameters)).name} sets {name!r}, which the template does not declare; ignored")
    return builder.build(dns_suffix)


def release_for_cluster_version(version: str) -> tuple[str | None, str | None]:
    """(release, retirement) for an HDInsight clusterVersion such as "5.1" or "5.1.3000.0.2308052231".

    5.1 -> ("hdinsight-5.1", None). A retired version -> the nearest supported release and a phrase
    saying so ("retired since 31 March 2025"); a version it does not know -> (None, None), so the
    caller keeps the default release instead of guessing.
    """
    match = re.match(r"(\d+)\.(\d+)(?:\.|$)", version.strip())
    if match is None:
        return None, None
    key = (int(match[1]), int(match[2]))
    if key in SUPPORTED_VERSIONS:
        return SUPPORTED_VERSIONS[key], None
    if key in RETIRED_VERSIONS:
        return NEAREST_SUPPORTED, f"retired since {RETIRED_VERSIONS[key]}"
    if key < min(RETIRED_VERSIONS):
        return NEAREST_SUPPORTED, "retired"
    return None, None


def _version_note(version: str | None, stack: Release) -> tuple[str, bool]:
    """What to say about a clusterVersion on the twin's stack ("" when they match), and whether that
    stack is the nearest supported release to a retired version."""
    if version is None:
        return "clusterVersion is missing or unresolved", False
    mapped, retired = release_for_cluster_version(version)
    if mapped is None:
        return f"clusterVersion {version} is not one the importer maps to a release (it knows {_KNOWN_VERSIONS})", False
    if retired is not None:
        return f"HDInsight {version} has been {retired}", mapped == stack.name
    if mapped != stack.name:
        return f"HDInsight {version} would be {mapped}, but the Kafka cluster's version picks the twin's one release", False
    return "", False


def _component_notes(cluster: _Cluster, stack: Release) -> list[str]:
    """componentVersion entries naming another Kafka or Spark line than the stack's: Kafka "2.4" differs
    from 3.2.3, "3.2" does not (HDInsight names the line, the twin pins its last patch release)."""
    notes = []
    for component, wanted in cluster.components:
        running = {"kafka": stack.kafka_version, "spark": stack.spark_version}.get(component.lower())
        if running is not None and wanted.strip().split(".")[:2] != running.split(".")[:2]:
            notes.append(f"its componentVersion {component} {wanted} is not the twin's {component} {running}")
    return notes


def derived_dns_suffix(vnet_name: str) -> str:
    """A made-up, stable `<26 alnum>.cx.internal.cloudapp.net`, shaped like the suffix Azure assigns a VNet."""
    number = int.from_bytes(hashlib.sha256(vnet_name.encode()).digest(), "big")
    chars = []
    for _ in range(26):
        number, digit = divmod(number, len(_ALNUM))
        chars.append(_ALNUM[digit])
    return "".join(chars) + ".cx.internal.cloudapp.net"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a JSON object (an ARM template or parameters file), found {type(data).__name__}")
    return data


def _parameter_values(path: Path, template: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`{"parameters": {"x": {"value": ...}}}`; a Key Vault `reference` is left unresolved, never fetched."""
    data = _read_json(path)
    entries = data.get("parameters", data)
    if not isinstance(entries, dict) or not all(isinstance(v, dict) for v in entries.values()):
        raise ConfigError(f"{path}: not an ARM parameters file", hint='expected {"parameters": {"name": {"value": ...}}}')
    declared = {str(k).lower() for k in (template.get("parameters") or {})}
    values: dict[str, Any] = {}
    undeclared: list[str] = []
    for name, entry in entries.items():
        if name.lower() not in declared:
            undeclared.append(name)
        elif "value" in entry:
            values[name] = entry["value"]
        else:
            values[name] = Unresolved(f"{path.name}:parameters.{name}", "reference", "Key Vault references are not read by the importer")
    return values, undeclared


class _Builder:
    """Turns resolved resources into the Topology data, then validates it through the model."""

    def __init__(self, source: Path, document: dict[str, Any], values: dict[str, Any]) -> None:
        self.source = source
        self.resolver = TemplateResolver(document, values)
        self.reader = _Reader()
        self.resources = self._resources(document)
        self.release: str | None = None

    @property
    def stack(self) -> Release:
        return RELEASES[self.release or DEFAULT_RELEASE]

    def _resources(self, document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        raw = document.get("resources")
        if isinstance(raw, dict):  # languageVersion 2.0: symbolic names
            raw = list(raw.values())
        if not isinstance(raw, list):
            raise ConfigError(f"{self.source}: not an ARM template: no 'resources' array", hint="pass the azuredeploy.json, not a parameters file")
        return [(f"resources[{i}]", self.resolver.resolve(r, f"resources[{i}]")) for i, r in enumerate(raw) if isinstance(r, dict)]

    def _of_type(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(p, r) for p, r in self.resources if str(r.get("type", "")).lower() == kind]

    def build(self, dns_suffix: str | None) -> ArmImport:
        clusters = [c for p, r in self._of_type(HDINSIGHT) if (c := self.reader.cluster(r, p)) is not None]
        kafka, spark = self._pick_clusters(clusters)
        self.release = self._release(kafka, spark)
        vnets = self._vnets()
        data = self._topology_data(kafka, spark, vnets, dns_suffix)
        topology = self._validate(data)
        deployment = self._deployment(topology)  # before the warnings are frozen: it may add one
        return ArmImport(
            topology=topology, deployment=deployment,
            unresolved=tuple(self.reader.unresolved), warnings=tuple(self.reader.warnings), source=self.source,
            versions=tuple((c.name.lower(), c.version) for c in (kafka, *spark)),
            release_reason=self._release_reason(kafka),
        )

    def _release(self, kafka: _Cluster, spark: list[_Cluster]) -> str | None:
        """The Kafka cluster's clusterVersion picks the release (it decides ZooKeeper or KRaft, and one
        release runs the whole twin); None, for a version missing or unknown, keeps the model's default."""
        chosen = release_for_cluster_version(kafka.cluster_version)[0] if kafka.cluster_version else None
        for cluster in (kafka, *spark):
            self._version_warning(cluster, chosen, RELEASES[chosen or DEFAULT_RELEASE])
        return chosen

    def _version_warning(self, cluster: _Cluster, chosen: str | None, stack: Release) -> None:
        """Say when the twin's stack is not what the cluster's clusterVersion and componentVersion name."""
        said, nearest = _version_note(cluster.cluster_version, stack)
        parts = ([said] if said else []) + _component_notes(cluster, stack)
        if parts:
            whose = "the nearest supported release" if nearest else "the default release" if chosen is None else "the Kafka cluster's release"
            self.reader.warn(f"{cluster.title}: {'; '.join(parts)}; the twin runs {whose}, {stack.title}")

    def _release_reason(self, kafka: _Cluster) -> str:
        """One header line, so a reader of the profile sees where `release:` came from."""
        if self.release is None:
            return f"release {DEFAULT_RELEASE}: the default, as the Kafka cluster's clusterVersion maps to no release"
        retired = release_for_cluster_version(kafka.cluster_version or "")[1]
        how = "the nearest supported release to the Kafka cluster's retired" if retired else "chosen by the Kafka cluster's"
        return f"release {self.release}: {how} clusterVersion {kafka.cluster_version}"

    def _pick_clusters(self, clusters: list[_Cluster]) -> tuple[_Cluster, list[_Cluster]]:
        self._require_kafka_name(clusters)
        for nameless in (c for c in clusters if not c.name):
            self.reader.warn(f"a {nameless.kind} cluster whose name could not be resolved is skipped")
        clusters = [c for c in clusters if c.name]
        kafka = [c for c in clusters if c.kind == "kafka"]
        if len(kafka) != 1:
            found = ", ".join(f"{c.kind} cluster {c.name!r}" for c in clusters) or "no Microsoft.HDInsight/clusters resource"
            what = "no" if not kafka else "more than one"
            raise ConfigError(
                f"{self.source}: not an HDInsight Kafka template: {what} Microsoft.HDInsight/clusters resource with "
                f"clusterDefinition.kind 'kafka' (found: {found})",
                detail="\n".join(f"  unresolved {e}" for e in self.reader.unresolved) or None,
                hint="the twin models exactly one Kafka cluster, optionally with Spark clusters in the same VNet",
            )
        for other in clusters:
            if other.kind not in ("kafka", "spark"):
                self.reader.warn(f"{other.kind} cluster {other.name!r} is not modelled by the twin and is skipped")
        spark = [c for c in clusters if c.kind == "spark"]
        if not spark:
            self.reader.warn("the template has no Spark cluster; only Kafka is imported")
        return kafka[0], spark

    def _require_kafka_name(self, clusters: list[_Cluster]) -> None:
        """Host names derive from the cluster name, so a Kafka cluster without one cannot be modelled."""
        if any(c.kind == "kafka" and not c.name for c in clusters):
            raise ConfigError(
                f"{self.source}: the Kafka cluster's name could not be resolved",
                detail="\n".join(f"  unresolved {e}" for e in self.reader.unresolved) or None,
                hint='pass a parameters file that sets it: {"parameters": {"clusterName": {"value": "mycluster"}}}',
            )

    def _vnets(self) -> dict[str, _VNet]:
        found = {v.name.lower(): v for _, r in self._of_type(VIRTUAL_NETWORK) if (v := self.reader.vnet(r)) is not None}
        for _, resource in self._of_type(SUBNET):
            name = self.reader.get(resource, "name")
            if isinstance(name, str) and "/" in name and name.split("/")[0].lower() in found:
                vnet = found[name.split("/")[0].lower()]
                self.reader.add_subnet(vnet.subnets, name.split("/")[1], self.reader.get(resource, "properties"))
        return found

    def _topology_data(self, kafka: _Cluster, spark: list[_Cluster], vnets: dict[str, _VNet], dns_suffix: str | None) -> dict[str, Any]:
        home = kafka.vnet or f"{kafka.name.lower()}-vnet"
        if kafka.vnet is None:
            self.reader.warn(
                f"Kafka cluster {kafka.name!r} names no virtualNetworkProfile; Azure would give each cluster its own VNet, "
                f"the twin assumes one shared VNet {home!r}"
            )
        names = [home]
        for cluster in spark:
            if cluster.vnet is None:
                self.reader.warn(f"Spark cluster {cluster.name!r} names no VNet; assumed it joins {home!r}")
            elif cluster.vnet.lower() not in (n.lower() for n in names):
                names.append(cluster.vnet)
            if cluster.vnet and cluster.vnet.lower() == home.lower() and cluster.subnet and kafka.subnet and cluster.subnet.lower() != kafka.subnet.lower():
                self.reader.warn(f"Spark cluster {cluster.name!r} uses subnet {cluster.subnet!r}, Kafka {kafka.subnet!r}; the twin models one subnet per VNet")
        vnet_data = [self._vnet_data(n, kafka.subnet, vnets, dns_suffix if i == 0 else None) for i, n in enumerate(names)]
        brokers = self._kafka_broker_count(kafka)
        replication = min(3, brokers)
        return {
            "name": self.source.stem,
            "description": f"imported from {self.source.name}: " + "; ".join(f"{c.name.lower()} ({c.version})" for c in (kafka, *spark)),
            **({"release": self.release} if self.release else {}),
            "vnets": vnet_data,
            "clusters": [self._cluster_data(kafka, home)] + [self._cluster_data(c, c.vnet or home) for c in spark],
            "kafka": {"topic_defaults": {"partitions": 8, "replication_factor": replication, "min_insync_replicas": min(2, replication)}},
        }

    def _vnet_data(self, name: str, subnet_name: str | None, vnets: dict[str, _VNet], dns_suffix: str | None) -> dict[str, Any]:
        found = vnets.get(name.lower())
        if found is None:
            self.reader.warn(f"VNet {name!r} is not created by this template (an existing VNet?); assumed {DEFAULT_ADDRESS_SPACE} with subnet {DEFAULT_SUBNET}")
            return {"name": name, "address_space": DEFAULT_ADDRESS_SPACE, "subnet": DEFAULT_SUBNET, "dns_suffix": dns_suffix or derived_dns_suffix(name)}
        subnet = found.subnets.get((subnet_name or "").lower()) or next(iter(found.subnets.values()), None)
        if subnet is None:
            self.reader.warn(f"VNet {name!r} has no readable subnet; assumed {DEFAULT_SUBNET}")
            subnet = DEFAULT_SUBNET
        space = _containing(found.prefixes, subnet)
        if space is None:
            self.reader.warn(f"VNet {name!r} has no readable address space holding {subnet}; assumed {DEFAULT_ADDRESS_SPACE}")
            space = DEFAULT_ADDRESS_SPACE
        return {"name": found.name, "address_space": space, "subnet": subnet, "dns_suffix": dns_suffix or derived_dns_suffix(found.name)}

    def _cluster_data(self, cluster: _Cluster, vnet: str) -> dict[str, Any]:
        name = cluster.name.lower()
        if name != cluster.name:
            self.reader.warn(f"cluster name {cluster.name!r} lower-cased to {name!r} (host names are lower-case)")
        groups = [self._group_data(cluster, role) for role in sorted(cluster.roles, key=lambda r: list(ROLE_NAMES).index(r.name))]
        if cluster.kind == "kafka" and not any(r.name == "zookeepernode" for r in cluster.roles):
            groups = self._quorum_without_zookeeper_role(name, groups)
        return {"name": name, "kind": cluster.kind, "vnet": vnet, "nodes": groups}

    def _quorum_without_zookeeper_role(self, name: str, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """KRaft lets the brokers hold the quorum themselves; ZooKeeper needs nodes of its own, and
        HDInsight gives every cluster three, so on a ZooKeeper release the twin assumes them."""
        if self.stack.uses_zookeeper:
            self.reader.warn(
                f"Kafka cluster {name!r} has no zookeepernode role; HDInsight gives every cluster three ZooKeeper nodes "
                f"and release {self.stack.name} keeps metadata in ZooKeeper, so the twin assumes 3 x {ZOOKEEPER_VM}"
            )
            return [*groups, {"role": "zookeeper", "count": 3, "vm_size": ZOOKEEPER_VM, "disks": 0, "kafka": ["zookeeper"]}]
        self.reader.warn(f"Kafka cluster {name!r} has no zookeepernode role; the brokers also act as KRaft controllers")
        for group in groups:
            if group["role"] == "worker":
                group["kafka"] = ["broker", "controller"]
        return groups

    def _group_data(self, cluster: _Cluster, role: _Role) -> dict[str, Any]:
        group: dict[str, Any] = {"role": ROLE_NAMES[role.name], "count": role.count, "vm_size": role.vm_size, "disks": role.disks}
        if cluster.kind == "kafka" and role.name == "workernode":
            group["kafka"] = ["broker"]
            group["racks"] = [f"FD{i % 3}UD{i % 5}" for i in range(role.count)]
            if role.count > 15:
                self.reader.warn(f"{role.count} brokers but 3 fault domains x 5 update domains = 15 racks; racks repeat")
        elif cluster.kind == "kafka" and role.name == "zookeepernode":
            group["kafka"] = ["zookeeper" if self.stack.uses_zookeeper else "controller"]
        return group

    def _kafka_broker_count(self, kafka: _Cluster) -> int:
        workers = next((r for r in kafka.roles if r.name == "workernode"), None)
        if workers is None:
            raise ConfigError(f"{self.source}: Kafka cluster {kafka.name!r} has no workernode role, so no brokers", detail="\n".join(self.reader.unresolved) or None)
        if workers.count < 3:
            self.reader.warn(
                f"Kafka cluster {kafka.name!r} has {workers.count} worker node(s); Microsoft recommends at least 3 brokers "
                f"for replication factor 3, so topic defaults use replication factor {workers.count}"
            )
        if workers.disks == 0:
            self.reader.warn(f"Kafka workers of {kafka.name!r} have no dataDisksGroups; HDInsight Kafka needs managed disks")
        zookeepers = next((r for r in kafka.roles if r.name == "zookeepernode"), None)
        if zookeepers is not None and zookeepers.count % 2 == 0:
            self.reader.warn(f"{zookeepers.count} zookeeper nodes: a quorum of an even size tolerates no more failures than one node fewer")
        return workers.count

    def _validate(self, data: dict[str, Any]) -> Topology:
        try:
            return Topology.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{self.source}: the imported topology is invalid", detail=describe_validation_error(exc, data)) from None

    def _deployment(self, topology: Topology) -> DeploymentProfile | None:
        """The Azure profile for projections; a size outside the catalog or no Spark leaves it None, with a warning."""
        try:
            return DeploymentProfile.from_topology(topology)
        except ConfigError as exc:
            self.reader.warn(f"no deployment profile for projections: {_one_line(str(exc))}")
            return None


def _containing(prefixes: tuple[str, ...], subnet: str) -> str | None:
    """The address prefix holding the subnet (a VNet may list several)."""
    try:
        inner = IPv4Network(subnet, strict=False)
        for prefix in prefixes:
            if inner.subnet_of(IPv4Network(prefix, strict=False)):
                return prefix
    except ValueError:
        return prefixes[0] if prefixes else None
    return prefixes[0] if prefixes else None
