"""A graph as files an analyst's tools read: CSV (cells escaped against spreadsheet formulas),
GraphML, GEXF 1.3 (Gephi) and an i2 Analyst's Notebook import CSV (one row per link, entity -
link - entity; the import specification is in docs/report-and-dashboard.md). Each file carries
the marking and notice. XML is written with xml.etree (escaped), characters XML 1.0 cannot hold
replaced by U+FFFD.

The graph is plain data, already cut to what the role may see (`data.RunData`):
nodes [{id, label, group_id, to_safeguard, harm_cchi, pick_step}], links [{a, b, layer, weight,
first_date, last_date, evidence, handling_code, evidence_withheld}] (a and b are node ids)."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET

from hiddennet.report import MARKING
from hiddennet.serve.views.exports import csv_cell
from hiddennet.stage import NOTICE

_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")

NODE_FIELDS = ("label", "group_id", "to_safeguard", "harm_cchi", "pick_step")
LINK_FIELDS = ("layer", "weight", "first_date", "last_date", "evidence", "handling_code", "evidence_withheld")
I2_COLUMNS = (
    "Entity1 Identity",
    "Entity1 Label",
    "Entity1 Type",
    "Entity1 Group",
    "Entity2 Identity",
    "Entity2 Label",
    "Entity2 Type",
    "Entity2 Group",
    "Link Type",
    "Link Label",
    "Link Strength",
    "Date From",
    "Date To",
    "Evidence",
    "Handling Code",
)


def _cell(v: object) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    return csv_cell(v)


def marking_line() -> str:
    return f"# {MARKING}: {NOTICE}\n"


def to_csv(graph: dict) -> str:
    """One row per link and layer, both ends named by label; nodes without links as their own rows."""
    buf = io.StringIO()
    buf.write(marking_line())
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["from", "to", *LINK_FIELDS])
    label = {n["id"]: n["label"] for n in graph["nodes"]}
    for lk in graph["links"]:
        w.writerow([_cell(x) for x in (label[lk["a"]], label[lk["b"]], *(lk.get(f) for f in LINK_FIELDS))])
    return buf.getvalue()


def _entity_type(n: dict) -> str:
    return "Person to safeguard" if n.get("to_safeguard") else "Person"


def to_i2_csv(graph: dict) -> str:
    """Analyst's Notebook tabular import: entity - link - entity per row (see the docs' spec)."""
    buf = io.StringIO()
    buf.write(marking_line())
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(I2_COLUMNS)
    nodes = {n["id"]: n for n in graph["nodes"]}
    for lk in graph["links"]:
        a, b = nodes[lk["a"]], nodes[lk["b"]]
        row = [a["id"], a["label"], _entity_type(a), a.get("group_id"), b["id"], b["label"], _entity_type(b)]
        row += [b.get("group_id"), f"{lk['layer']} link", lk["layer"], lk.get("weight"), lk.get("first_date")]
        row += [lk.get("last_date"), lk.get("evidence"), lk.get("handling_code")]
        w.writerow([_cell(x) for x in row])
    return buf.getvalue()


def xml_text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return _NOT_XML.sub("\ufffd", "" if v is None else str(v))


def _xml(root: ET.Element) -> bytes:
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def to_graphml(graph: dict) -> bytes:
    ns = "http://graphml.graphdrawing.org/xmlns"
    root = ET.Element("graphml", {"xmlns": ns})
    ET.SubElement(root, "desc").text = xml_text(f"{MARKING}: {NOTICE}")
    types = {"weight": "double", "harm_cchi": "double", "pick_step": "int", "to_safeguard": "boolean"}
    for scope, fields in (("node", NODE_FIELDS), ("edge", LINK_FIELDS)):
        for f in fields:
            ET.SubElement(root, "key", {"id": f, "for": scope, "attr.name": f, "attr.type": types.get(f, "string")})
    ET.SubElement(root, "key", {"id": "marking", "for": "graph", "attr.name": "marking", "attr.type": "string"})
    g = ET.SubElement(root, "graph", {"id": "G", "edgedefault": "undirected"})
    ET.SubElement(g, "data", {"key": "marking"}).text = xml_text(f"{MARKING}: {NOTICE}")
    for n in graph["nodes"]:
        el = ET.SubElement(g, "node", {"id": xml_text(n["id"])})
        for f in NODE_FIELDS:
            if n.get(f) is not None:
                ET.SubElement(el, "data", {"key": f}).text = xml_text(n[f])
    for i, lk in enumerate(graph["links"]):
        el = ET.SubElement(g, "edge", {"id": f"e{i}", "source": xml_text(lk["a"]), "target": xml_text(lk["b"])})
        for f in LINK_FIELDS:
            if lk.get(f) is not None:
                ET.SubElement(el, "data", {"key": f}).text = xml_text(lk[f])
    return _xml(root)


def to_gexf(graph: dict) -> bytes:
    root = ET.Element("gexf", {"xmlns": "http://gexf.net/1.3", "version": "1.3"})
    meta = ET.SubElement(root, "meta")
    ET.SubElement(meta, "creator").text = "hiddennet"
    ET.SubElement(meta, "description").text = xml_text(f"{MARKING}: {NOTICE}")
    g = ET.SubElement(root, "graph", {"defaultedgetype": "undirected", "mode": "static"})
    node_fields = [f for f in NODE_FIELDS if f != "label"]
    link_fields = [f for f in LINK_FIELDS if f != "weight"]
    types = {"harm_cchi": "double", "pick_step": "integer", "to_safeguard": "boolean"}
    for cls, fields in (("node", node_fields), ("edge", link_fields)):
        declared = ET.SubElement(g, "attributes", {"class": cls})
        for i, f in enumerate(fields):
            ET.SubElement(declared, "attribute", {"id": str(i), "title": f, "type": types.get(f, "string")})
    nodes = ET.SubElement(g, "nodes")
    for n in graph["nodes"]:
        el = ET.SubElement(nodes, "node", {"id": xml_text(n["id"]), "label": xml_text(n["label"])})
        _attvalues(el, node_fields, n)
    edges = ET.SubElement(g, "edges")
    for i, lk in enumerate(graph["links"]):
        attrs = {
            "id": f"e{i}",
            "source": xml_text(lk["a"]),
            "target": xml_text(lk["b"]),
            "label": xml_text(lk["layer"]),
        }
        if lk.get("weight"):
            attrs["weight"] = xml_text(lk["weight"])
        _attvalues(ET.SubElement(edges, "edge", attrs), link_fields, lk)
    return _xml(root)


def _attvalues(el: ET.Element, fields: list[str], item: dict) -> None:
    vals = ET.SubElement(el, "attvalues")
    for i, f in enumerate(fields):
        if item.get(f) is not None:
            ET.SubElement(vals, "attvalue", {"for": str(i), "value": xml_text(item[f])})
