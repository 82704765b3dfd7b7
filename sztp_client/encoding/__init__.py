"""Value encodings shared by the data-model parsers; pure, no I/O.

* :mod:`.yang_types`: YANG built-in and common types as they appear on the wire: ``binary``
  (base64, D13), ``yang:hex-string`` (D13), ``yang:date-and-time`` (RFC 3339, and the one
  formatter of times the client writes);
* :mod:`.json`: strict JSON loading (D15: UTF-8 without a byte-order mark, without duplicate
  object members, NaN, Infinity or trailing data) and :class:`~.json.YangJSONObject`, which
  takes the members of one JSON object (RFC 7951) one by one;
* :mod:`.xml`: XML parsed with a parser that refuses DTDs, entity declarations and external
  references, and :func:`~.xml.xml_to_json_tree`, which turns an XML element (RFC 7950 §9) into
  the same shape of Python values so that one parser serves both encodings; imported only where
  XML is read;
* :mod:`.xml_schema`: the schema nodes the parsers declare for it, without an XML parser.

Size bounds are the caller's job (D19).  Deep nesting is refused as an encoding error instead
of exhausting the stack.  Import the submodules; this package re-exports nothing.
"""
