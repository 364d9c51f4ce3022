/*
 * mappings._cadxml_tree -- optional C accelerator of the CAD-IN fast path:
 * the groups of ``_HEADER`` and ``_LINE`` (mappings/cadxml_fast.py) read from
 * the parsed tree instead of from ``etree.tostring``'s text.
 *
 * The fast path serializes a Declaration element and matches it with regular
 * expressions spelled out from cad-in.xsd's sequences. This module walks the
 * element's libxml2 nodes in the same sequences and gives the same groups:
 * what the patterns capture, with the references ``_unescape`` undoes already
 * undone (the tree holds the text as parsed). Where a pattern would not match
 * the serialized element, it gives up. In tree terms the patterns ask for:
 *
 *   - every element below the Declaration without a prefix, in the
 *     Declaration's namespace, without namespace declarations, and without
 *     attributes but the one a pattern names (``currencyID``, ``unitCode``,
 *     no namespace; ``currencyID`` exactly "CAD" where the walk expects CAD);
 *     the Declaration itself without a prefix, with any attributes;
 *   - the schema's order of elements, an optional one present only when the
 *     next element bears its name (then it must match: a possessive ``?+``
 *     followed by another name gives up), at most three DutyTaxFees;
 *   - between elements, only text that is all whitespace (Python's ``\s``:
 *     Py_UNICODE_ISSPACE), but no carriage return (tostring writes it as
 *     ``&#13;``); no comment, processing instruction, CDATA section
 *     or entity reference anywhere (tostring would write ``<`` for them);
 *   - a leaf: one or more text nodes and nothing else (an empty element
 *     serializes as ``<X/>``, which a leaf pattern does not match); a
 *     container: element children as above, or no child at all only where
 *     the pattern allows ``<X/>``;
 *   - SequenceNumeric: ASCII digits; a line amount: a plain number within the
 *     digit limits the pattern spells (``checked_amounts.fits_pattern``).
 *
 * configure(element_class, probe)
 *     ``element_class`` is lxml.etree._Element; ``probe`` the element
 *     ``<p:probe xmlns:p="urn:probe" a="v">text<c/></p:probe>`` parsed by
 *     lxml. The layouts declared below (lxml's public ``struct LxmlElement``,
 *     libxml2's ``xmlNode``, ``xmlAttr``, ``xmlNs``: stable public ABIs, not
 *     taken from headers at build time) are checked against the probe; a
 *     mismatch raises and leaves the module unconfigured.
 *
 * groups(element) -> (dict, list) | None
 *     The header's groups by name (all of ``_HEADER``'s, None where absent)
 *     and, per Commodity, the tuple of ``_LINE``'s 22 groups; None where the
 *     patterns would not match. tests/test_cadxml_tree_accelerator.py
 *     compares both with the regular expressions' groups.
 *
 * Safety: the walk holds the GIL and runs no Python code but the creation of
 * str objects, so the tree cannot change under it; every pointer is checked
 * for NULL before it is followed.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "../domain/_amount_fits.h"

/* libxml2's public structures, as far as they are read here. */
typedef unsigned char xmlChar;
enum { XML_ELEMENT_NODE = 1, XML_ATTRIBUTE_NODE = 2, XML_TEXT_NODE = 3 };

typedef struct xmlNs {
    struct xmlNs *next;
    int type;
    const xmlChar *href;
    const xmlChar *prefix;
    void *_private;
    void *context;
} xmlNs;

typedef struct xmlNode {
    void *_private;
    int type;
    const xmlChar *name;
    struct xmlNode *children;
    struct xmlNode *last;
    struct xmlNode *parent;
    struct xmlNode *next;
    struct xmlNode *prev;
    void *doc;
    xmlNs *ns;
    xmlChar *content;
    struct xmlAttr *properties;
    xmlNs *nsDef;
} xmlNode;

typedef struct xmlAttr {
    void *_private;
    int type;
    const xmlChar *name;
    struct xmlNode *children;
    struct xmlNode *last;
    struct xmlNode *parent;
    struct xmlAttr *next;
    struct xmlAttr *prev;
    void *doc;
    xmlNs *ns;
} xmlAttr;

/* lxml's public element struct (lxml.etree.h): what precedes ``_c_node``. */
typedef struct {
    PyObject_HEAD
    void *_doc;
    xmlNode *_c_node;
} LxmlElement;

static PyTypeObject *element_type = NULL;

/* The groups ------------------------------------------------------------------ */

enum {
    H_FUNCTION, H_FILER_REFERENCE, H_TRANSACTION_NUMBER, H_TYPE_CODE, H_VERSION, H_AMENDMENT, H_REASON_CODE,
    H_EXPLANATION, H_STATEMENT_TYPE, H_CARGO_CONTROL_NUMBER, H_CURRENCY, H_EXCHANGE_RATE, H_DECLARANT_NAME,
    H_DECLARANT_ACCOUNT, H_OFFICE_OF_RELEASE, H_RELEASE_DATE, H_IMPORTER_NAME, H_IMPORTER_ACCOUNT, H_INVOICE_NUMBER,
    H_ISSUE_DATE, H_TOTAL_CURRENCY, H_TOTAL, H_VENDOR_NAME, H_CITY, H_COUNTRY, H_STREET, H_POSTCODE, H_COUNT,
};
static const char *header_names[H_COUNT] = {
    "function", "filer_reference", "transaction_number", "type_code", "version", "amendment", "reason_code",
    "explanation", "statement_type", "cargo_control_number", "currency", "exchange_rate", "declarant_name",
    "declarant_account", "office_of_release", "release_date", "importer_name", "importer_account", "invoice_number",
    "issue_date", "total_currencyID", "total", "vendor_name", "city", "country", "street", "postcode",
};
static PyObject *header_keys[H_COUNT];

enum {
    L_NUMBER, L_DESCRIPTION, L_HS_CODE, L_TARIFF, L_VALUE_FOR_DUTY, L_UNIT, L_QUANTITY, L_INVOICE_CURRENCY,
    L_INVOICE_AMOUNT, L_COUNTRY, L_FEES, L_COUNT = L_FEES + 12,
};

/* What a leaf's text must be, besides text: anything, ASCII digits, or a plain
 * number within (integer digits, decimal places). */
typedef struct {
    int kind; /* 0 any, 1 digits, 2 amount */
    int whole, places;
} text_rule;

static const text_rule ANY = {0, 0, 0};
static const text_rule DIGITS = {1, 0, 0};
/* The limits ``_amount`` spells for each line amount (checked_amounts.LINE_DIGIT_LIMITS, the
 * smallest of the fields an amount may go to); configure() receives them from Python. */
static text_rule AMOUNT_VALUE_FOR_DUTY, AMOUNT_QUANTITY, AMOUNT_INVOICE, AMOUNT_RATE, AMOUNT_BASE, AMOUNT_PAID;

/* The walk --------------------------------------------------------------------
 * Functions returning int return 1 matched, 0 give up, -1 error (exception set). */

typedef struct {
    const xmlChar *href; /* the Declaration's namespace (NULL: none) */
} walk;

static int
same_href(const xmlChar *a, const xmlChar *b)
{
    return a == b || (a != NULL && b != NULL && strcmp((const char *)a, (const char *)b) == 0);
}

/* Whether ``text`` (UTF-8) is all whitespace as Python's ``\s`` sees it in
 * the serialized element: tostring writes a carriage return in text as
 * ``&#13;``, which ``\s`` does not match. */
static int
all_space(const xmlChar *text)
{
    int ascii = 1;
    for (const xmlChar *c = text; *c; c++) {
        if (*c >= 0x80) {
            ascii = 0;
            break;
        }
        if (*c == '\r' || !Py_UNICODE_ISSPACE(*c)) {
            return 0;
        }
    }
    if (ascii) {
        return 1;
    }
    PyObject *decoded = PyUnicode_DecodeUTF8((const char *)text, (Py_ssize_t)strlen((const char *)text), "strict");
    if (decoded == NULL) {
        return -1;
    }
    int space = 1;
    for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(decoded) && space; i++) {
        Py_UCS4 ch = PyUnicode_READ_CHAR(decoded, i);
        space = ch != '\r' && Py_UNICODE_ISSPACE(ch);
    }
    Py_DECREF(decoded);
    return space;
}

/* Move ``*cur`` past whitespace text to the next element (or NULL at the end). */
static int
skip_space(xmlNode **cur)
{
    while (*cur != NULL && (*cur)->type != XML_ELEMENT_NODE) {
        if ((*cur)->type != XML_TEXT_NODE || (*cur)->content == NULL) {
            return 0;
        }
        int space = all_space((*cur)->content);
        if (space <= 0) {
            return space;
        }
        *cur = (*cur)->next;
    }
    return 1;
}

/* Whether ``node`` is the element ``name`` as the patterns write it: no prefix,
 * the Declaration's namespace, no namespace declaration. */
static int
is_element(const walk *w, const xmlNode *node, const char *name)
{
    return node != NULL && node->type == XML_ELEMENT_NODE && node->name != NULL &&
           strcmp((const char *)node->name, name) == 0 && node->nsDef == NULL &&
           (node->ns == NULL ? w->href == NULL : node->ns->prefix == NULL && same_href(node->ns->href, w->href));
}

/* A new reference to the text of ``node``'s text children (at least one, nothing else), or NULL with no exception. */
static PyObject *
text_of(const xmlNode *first)
{
    if (first == NULL) {
        return NULL;
    }
    if (first->next == NULL) {
        if (first->type != XML_TEXT_NODE || first->content == NULL) {
            return NULL;
        }
        const char *c = (const char *)first->content;
        return PyUnicode_DecodeUTF8(c, (Py_ssize_t)strlen(c), "strict");
    }
    PyObject *parts = PyList_New(0);
    if (parts == NULL) {
        return NULL;
    }
    for (const xmlNode *n = first; n != NULL; n = n->next) {
        if (n->type != XML_TEXT_NODE || n->content == NULL) {
            Py_DECREF(parts);
            return NULL;
        }
        const char *c = (const char *)n->content;
        PyObject *part = PyUnicode_DecodeUTF8(c, (Py_ssize_t)strlen(c), "strict");
        if (part == NULL || PyList_Append(parts, part) < 0) {
            Py_XDECREF(part);
            Py_DECREF(parts);
            return NULL;
        }
        Py_DECREF(part);
    }
    PyObject *empty = PyUnicode_New(0, 0);
    PyObject *joined = empty == NULL ? NULL : PyUnicode_Join(empty, parts);
    Py_XDECREF(empty);
    Py_DECREF(parts);
    return joined;
}

static int
rule_holds(const text_rule *rule, PyObject *text)
{
    if (rule->kind == 0) {
        return 1;
    }
    if (rule->kind == 2) {
        return amount_str_fits(text, rule->whole, rule->places, NULL);
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n == 0 || PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND) {
        return 0;
    }
    const Py_UCS1 *c = PyUnicode_1BYTE_DATA(text);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (c[i] < '0' || c[i] > '9') {
            return 0;
        }
    }
    return 1;
}

/* Store a new reference in ``*slot`` (NULL: not captured, the reference is dropped). */
static void
keep(PyObject **slot, PyObject *value)
{
    if (slot != NULL) {
        Py_XSETREF(*slot, value);
    }
    else {
        Py_DECREF(value);
    }
}

/* The element at ``*cur`` is the leaf ``name``: its text, following ``rule``,
 * into ``*slot``; ``*cur`` moves on. With ``attribute``, the leaf must carry
 * exactly that attribute: its value into ``*attribute_slot``, or equal to
 * ``fixed``. */
static int
leaf_with(const walk *w, xmlNode **cur, const char *name, PyObject **slot, const text_rule *rule,
          const char *attribute, PyObject **attribute_slot, const char *fixed)
{
    xmlNode *el = *cur;
    if (!is_element(w, el, name)) {
        return 0;
    }
    const xmlAttr *attr = el->properties;
    if (attribute == NULL ? attr != NULL
                          : attr == NULL || attr->next != NULL || attr->ns != NULL || attr->name == NULL ||
                                strcmp((const char *)attr->name, attribute) != 0) {
        return 0;
    }
    PyObject *value = text_of(el->children);
    if (value == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    if (!rule_holds(rule, value)) {
        Py_DECREF(value);
        return 0;
    }
    if (attribute != NULL) {
        PyObject *given = attr->children == NULL ? PyUnicode_New(0, 0) : text_of(attr->children);
        if (given == NULL) {
            Py_DECREF(value);
            return PyErr_Occurred() ? -1 : 0;
        }
        if (fixed != NULL) {
            int same = PyUnicode_CompareWithASCIIString(given, fixed) == 0;
            Py_DECREF(given);
            if (!same) {
                Py_DECREF(value);
                return 0;
            }
        }
        else {
            keep(attribute_slot, given);
        }
    }
    keep(slot, value);
    *cur = el->next;
    return skip_space(cur);
}

static int
leaf(const walk *w, xmlNode **cur, const char *name, PyObject **slot)
{
    return leaf_with(w, cur, name, slot, &ANY, NULL, NULL, NULL);
}

/* A leaf the pattern makes optional: matched when the next element bears its name. */
static int
optional_leaf(const walk *w, xmlNode **cur, const char *name, PyObject **slot)
{
    return is_element(w, *cur, name) ? leaf(w, cur, name, slot) : 1;
}

/* The container ``name`` at ``*cur``: ``*inner`` is set to its first element
 * child (past whitespace), or NULL when it has none; an element without any
 * child is accepted only when ``may_be_empty`` (the pattern's ``<X/>``). */
static int
open_container(const walk *w, xmlNode **cur, const char *name, int may_be_empty, xmlNode **inner)
{
    xmlNode *el = *cur;
    if (!is_element(w, el, name) || el->properties != NULL) {
        return 0;
    }
    if (el->children == NULL && !may_be_empty) {
        return 0;
    }
    *inner = el->children;
    return skip_space(inner);
}

/* After a container's content: nothing left in it; ``*cur`` moves past it. */
static int
close_container(xmlNode **cur, xmlNode *inner)
{
    if (inner != NULL) {
        return 0;
    }
    *cur = (*cur)->next;
    return skip_space(cur);
}

#define TRY(call)                                                                                                      \
    do {                                                                                                               \
        int rc_ = (call);                                                                                              \
        if (rc_ <= 0) {                                                                                                \
            return rc_;                                                                                                \
        }                                                                                                              \
    } while (0)

/* A container holding one leaf (with an attribute, text rule: see leaf_with). */
static int
container_of_attributed(const walk *w, xmlNode **cur, const char *name, const char *leaf_name, PyObject **slot,
                        const text_rule *rule, const char *attribute, PyObject **attribute_slot, const char *fixed)
{
    xmlNode *inner;
    TRY(open_container(w, cur, name, 0, &inner));
    TRY(leaf_with(w, &inner, leaf_name, slot, rule, attribute, attribute_slot, fixed));
    return close_container(cur, inner);
}

static int
container_of_leaf(const walk *w, xmlNode **cur, const char *name, const char *leaf_name, PyObject **slot)
{
    return container_of_attributed(w, cur, name, leaf_name, slot, &ANY, NULL, NULL, NULL);
}

/* Declarant, Importer: an optional Name, an ID. */
static int
party(const walk *w, xmlNode **cur, const char *name, PyObject **name_slot, PyObject **account_slot)
{
    xmlNode *inner;
    TRY(open_container(w, cur, name, 0, &inner));
    TRY(optional_leaf(w, &inner, "Name", name_slot));
    TRY(leaf(w, &inner, "ID", account_slot));
    return close_container(cur, inner);
}

static int
amendment(const walk *w, xmlNode **cur, PyObject **g)
{
    xmlNode *el = *cur;
    if (!is_element(w, el, "Amendment") || el->properties != NULL || el->children == NULL) {
        return 0; /* the pattern writes <Amendment> */
    }
    PyObject *marker = PyUnicode_FromString("<Amendment>");
    if (marker == NULL) {
        return -1;
    }
    keep(&g[H_AMENDMENT], marker);
    xmlNode *inner = el->children;
    TRY(skip_space(&inner));
    TRY(leaf(w, &inner, "ChangeReasonCode", &g[H_REASON_CODE]));
    if (is_element(w, inner, "AdditionalInformation")) {
        xmlNode *info;
        TRY(open_container(w, &inner, "AdditionalInformation", 1, &info));
        TRY(optional_leaf(w, &info, "StatementDescription", &g[H_EXPLANATION]));
        TRY(optional_leaf(w, &info, "StatementTypeCode", &g[H_STATEMENT_TYPE]));
        TRY(close_container(&inner, info));
    }
    while (is_element(w, inner, "Pointer")) {
        TRY(container_of_leaf(w, &inner, "Pointer", "Location", NULL));
    }
    return close_container(cur, inner);
}

static int
consignment(const walk *w, xmlNode **cur, PyObject **g)
{
    xmlNode *inner;
    TRY(open_container(w, cur, "Consignment", 1, &inner));
    if (is_element(w, inner, "Freight")) {
        TRY(container_of_attributed(w, &inner, "Freight", "RateAmount", NULL, &ANY, "currencyID", NULL, NULL));
    }
    if (is_element(w, inner, "TransportContractDocument")) {
        TRY(container_of_leaf(w, &inner, "TransportContractDocument", "ID", &g[H_CARGO_CONTROL_NUMBER]));
    }
    return close_container(cur, inner);
}

static int
invoice(const walk *w, xmlNode **cur, PyObject **g)
{
    xmlNode *inner;
    TRY(open_container(w, cur, "Invoice", 0, &inner));
    TRY(leaf(w, &inner, "ID", &g[H_INVOICE_NUMBER]));
    TRY(optional_leaf(w, &inner, "IssueDateTime", &g[H_ISSUE_DATE]));
    TRY(optional_leaf(w, &inner, "TypeCode", NULL));
    if (is_element(w, inner, "TotalAmount")) {
        TRY(leaf_with(w, &inner, "TotalAmount", &g[H_TOTAL], &ANY, "currencyID", &g[H_TOTAL_CURRENCY], NULL));
    }
    return close_container(cur, inner);
}

static int
seller(const walk *w, xmlNode **cur, PyObject **g)
{
    xmlNode *inner;
    TRY(open_container(w, cur, "Seller", 0, &inner));
    TRY(leaf(w, &inner, "Name", &g[H_VENDOR_NAME]));
    if (is_element(w, inner, "Address")) {
        xmlNode *address;
        TRY(open_container(w, &inner, "Address", 1, &address));
        TRY(optional_leaf(w, &address, "CityName", &g[H_CITY]));
        TRY(optional_leaf(w, &address, "CountryCode", &g[H_COUNTRY]));
        TRY(optional_leaf(w, &address, "Line", &g[H_STREET]));
        TRY(optional_leaf(w, &address, "PostcodeID", &g[H_POSTCODE]));
        TRY(close_container(&inner, address));
    }
    return close_container(cur, inner);
}

/* ``_HEADER``: from the Declaration's first child to the first Commodity;
 * ``*items`` is the GovernmentAgencyGoodsItem element, ``*shipment`` the GoodsShipment. */
static int
header(const walk *w, xmlNode *declaration, PyObject **g, xmlNode **items, xmlNode **shipment)
{
    xmlNode *cur = declaration->children;
    TRY(skip_space(&cur));
    TRY(leaf(w, &cur, "FunctionCode", &g[H_FUNCTION]));
    TRY(optional_leaf(w, &cur, "FunctionalReferenceID", &g[H_FILER_REFERENCE]));
    TRY(leaf(w, &cur, "ID", &g[H_TRANSACTION_NUMBER]));
    TRY(optional_leaf(w, &cur, "LanguageCode", NULL));
    TRY(leaf(w, &cur, "TypeCode", &g[H_TYPE_CODE]));
    TRY(optional_leaf(w, &cur, "VersionID", &g[H_VERSION]));
    if (is_element(w, cur, "TotalGrossMassMeasure")) {
        TRY(leaf_with(w, &cur, "TotalGrossMassMeasure", NULL, &ANY, "unitCode", NULL, NULL));
    }
    if (is_element(w, cur, "Amendment")) {
        TRY(amendment(w, &cur, g));
    }
    if (is_element(w, cur, "BorderTransportMeans")) {
        TRY(container_of_leaf(w, &cur, "BorderTransportMeans", "ModeCode", NULL));
    }
    if (is_element(w, cur, "Consignment")) {
        TRY(consignment(w, &cur, g));
    }
    xmlNode *inner;
    TRY(open_container(w, &cur, "CurrencyExchange", 0, &inner));
    TRY(leaf(w, &inner, "CurrencyTypeCode", &g[H_CURRENCY]));
    TRY(leaf(w, &inner, "RateNumeric", &g[H_EXCHANGE_RATE]));
    TRY(close_container(&cur, inner));
    TRY(party(w, &cur, "Declarant", &g[H_DECLARANT_NAME], &g[H_DECLARANT_ACCOUNT]));
    TRY(container_of_leaf(w, &cur, "ReleaseLocation", "ID", &g[H_OFFICE_OF_RELEASE]));
    TRY(container_of_leaf(w, &cur, "Status", "ReleaseDateTime", &g[H_RELEASE_DATE]));
    /* <GoodsShipment>: written out, so not empty and without attributes */
    if (!is_element(w, cur, "GoodsShipment") || cur->properties != NULL || cur->children == NULL) {
        return 0;
    }
    *shipment = cur;
    xmlNode *goods = cur->children;
    TRY(skip_space(&goods));
    TRY(optional_leaf(w, &goods, "SequenceNumeric", NULL));
    TRY(optional_leaf(w, &goods, "ExitDateTime", NULL));
    if (is_element(w, goods, "ExportCountry")) {
        TRY(container_of_leaf(w, &goods, "ExportCountry", "CountryCode", NULL));
    }
    TRY(party(w, &goods, "Importer", &g[H_IMPORTER_NAME], &g[H_IMPORTER_ACCOUNT]));
    TRY(invoice(w, &goods, g));
    TRY(seller(w, &goods, g));
    if (!is_element(w, goods, "GovernmentAgencyGoodsItem") || goods->properties != NULL || goods->children == NULL) {
        return 0;
    }
    *items = goods;
    return 1;
}

/* One DutyTaxFee of a line: its four groups from ``g``. */
static int
duty_tax_fee(const walk *w, xmlNode **cur, PyObject **g)
{
    xmlNode *inner;
    TRY(open_container(w, cur, "DutyTaxFee", 0, &inner));
    TRY(leaf(w, &inner, "TypeCode", &g[0]));
    if (is_element(w, inner, "TaxRateNumeric")) {
        TRY(leaf_with(w, &inner, "TaxRateNumeric", &g[1], &AMOUNT_RATE, NULL, NULL, NULL));
    }
    if (is_element(w, inner, "DutyTaxFeeAssessmentBasis")) {
        TRY(container_of_attributed(w, &inner, "DutyTaxFeeAssessmentBasis", "AdValoremTaxBaseAmount", &g[2], &AMOUNT_BASE,
                                    "currencyID", NULL, "CAD"));
    }
    if (is_element(w, inner, "Payment")) {
        TRY(container_of_attributed(w, &inner, "Payment", "TaxAssessedAmount", &g[3], &AMOUNT_PAID, "currencyID", NULL,
                                    "CAD"));
    }
    return close_container(cur, inner);
}

/* ``_LINE``: one Commodity at ``*cur``, its groups into ``g``. */
static int
line(const walk *w, xmlNode **cur, PyObject **g)
{
    xmlNode *el = *cur;
    if (!is_element(w, el, "Commodity") || el->properties != NULL || el->children == NULL) {
        return 0;
    }
    xmlNode *inner = el->children;
    TRY(skip_space(&inner));
    TRY(leaf_with(w, &inner, "SequenceNumeric", &g[L_NUMBER], &DIGITS, NULL, NULL, NULL));
    TRY(leaf(w, &inner, "Description", &g[L_DESCRIPTION]));
    xmlNode *box;
    TRY(open_container(w, &inner, "Classification", 0, &box));
    TRY(leaf(w, &box, "ID", &g[L_HS_CODE]));
    TRY(leaf(w, &box, "BindingTariffReferenceID", &g[L_TARIFF]));
    TRY(close_container(&inner, box));
    TRY(leaf_with(w, &inner, "CustomsValueAmount", &g[L_VALUE_FOR_DUTY], &AMOUNT_VALUE_FOR_DUTY, "currencyID", NULL, "CAD"));
    TRY(container_of_attributed(w, &inner, "GoodsMeasure", "TariffQuantity", &g[L_QUANTITY], &AMOUNT_QUANTITY, "unitCode",
                                &g[L_UNIT], NULL));
    if (is_element(w, inner, "InvoiceLine")) {
        TRY(container_of_attributed(w, &inner, "InvoiceLine", "ItemChargeAmount", &g[L_INVOICE_AMOUNT], &AMOUNT_INVOICE,
                                    "currencyID", &g[L_INVOICE_CURRENCY], NULL));
    }
    TRY(container_of_leaf(w, &inner, "Origin", "CountryCode", &g[L_COUNTRY]));
    for (int fee = 0; fee < 3 && is_element(w, inner, "DutyTaxFee"); fee++) {
        TRY(duty_tax_fee(w, &inner, &g[L_FEES + 4 * fee]));
    }
    return close_container(cur, inner);
}

/* A new reference to a tuple of ``count`` groups (None where absent); the
 * references in ``g`` are moved into it. */
static PyObject *
as_tuple(PyObject **g, int count)
{
    PyObject *tuple = PyTuple_New(count);
    if (tuple == NULL) {
        return NULL;
    }
    for (int i = 0; i < count; i++) {
        PyTuple_SET_ITEM(tuple, i, g[i] != NULL ? g[i] : Py_NewRef(Py_None));
        g[i] = NULL;
    }
    return tuple;
}

static void
clear(PyObject **g, int count)
{
    for (int i = 0; i < count; i++) {
        Py_CLEAR(g[i]);
    }
}

static int
walk_lines(const walk *w, xmlNode *items, PyObject *lines)
{
    xmlNode *cur = items->children;
    TRY(skip_space(&cur));
    while (cur != NULL) {
        PyObject *g[L_COUNT] = {NULL};
        int rc = line(w, &cur, g);
        PyObject *tuple = rc > 0 ? as_tuple(g, L_COUNT) : NULL;
        clear(g, L_COUNT);
        if (rc <= 0) {
            return rc;
        }
        if (tuple == NULL || PyList_Append(lines, tuple) < 0) {
            Py_XDECREF(tuple);
            return -1;
        }
        Py_DECREF(tuple);
    }
    return 1;
}

/* Nothing but whitespace after ``node`` among its siblings. */
static int
last_of_its_parent(xmlNode *node)
{
    xmlNode *after = node->next;
    TRY(skip_space(&after));
    return after == NULL;
}

static PyObject *
groups(PyObject *Py_UNUSED(module), PyObject *element)
{
    if (element_type == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "groups() before configure()");
        return NULL;
    }
    if (!PyObject_TypeCheck(element, element_type)) {
        PyErr_SetString(PyExc_TypeError, "groups() expects an lxml element");
        return NULL;
    }
    xmlNode *declaration = ((LxmlElement *)element)->_c_node;
    if (declaration == NULL || declaration->type != XML_ELEMENT_NODE || declaration->name == NULL ||
        strcmp((const char *)declaration->name, "Declaration") != 0 ||
        (declaration->ns != NULL && declaration->ns->prefix != NULL) || declaration->children == NULL) {
        Py_RETURN_NONE;
    }
    walk w = {declaration->ns != NULL ? declaration->ns->href : NULL};
    PyObject *g[H_COUNT] = {NULL};
    xmlNode *items = NULL, *shipment = NULL;
    PyObject *lines = PyList_New(0);
    int rc = lines == NULL ? -1 : header(&w, declaration, g, &items, &shipment);
    if (rc > 0) {
        rc = walk_lines(&w, items, lines);
    }
    if (rc > 0) {
        rc = last_of_its_parent(items);
    }
    if (rc > 0) {
        rc = last_of_its_parent(shipment);
    }
    PyObject *fields = rc > 0 ? PyDict_New() : NULL;
    if (rc > 0 && fields == NULL) {
        rc = -1;
    }
    for (int i = 0; rc > 0 && i < H_COUNT; i++) {
        if (PyDict_SetItem(fields, header_keys[i], g[i] != NULL ? g[i] : Py_None) < 0) {
            rc = -1;
        }
    }
    clear(g, H_COUNT);
    if (rc <= 0) {
        Py_XDECREF(fields);
        Py_XDECREF(lines);
        if (rc < 0) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    return Py_BuildValue("(NN)", fields, lines);
}

/* Configuration: the layouts above against an element lxml parsed ---------------- */

static int
named(const xmlChar *name, const char *expected)
{
    return name != NULL && strcmp((const char *)name, expected) == 0;
}

static int
read_limits(PyObject *limits, const char *field, text_rule *rule)
{
    PyObject *pair = PyDict_GetItemString(limits, field); /* borrowed */
    int whole, places;
    if (pair == NULL || !PyArg_ParseTuple(pair, "ii", &whole, &places) || whole < 0 || places < 0) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "amount_limits has no (whole, places) for %s", field);
        }
        return -1;
    }
    *rule = (text_rule){2, whole, places};
    return 0;
}

static PyObject *
configure(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *cls, *probe, *limits;
    if (!PyArg_ParseTuple(args, "O!OO!:configure", &PyType_Type, &cls, &probe, &PyDict_Type, &limits)) {
        return NULL;
    }
    if (!PyObject_TypeCheck(probe, (PyTypeObject *)cls)) {
        PyErr_SetString(PyExc_TypeError, "probe must be an instance of element_class");
        return NULL;
    }
    const xmlNode *node = ((LxmlElement *)probe)->_c_node;
    const xmlNode *text = node != NULL ? node->children : NULL;
    const xmlNode *child = text != NULL ? text->next : NULL;
    const xmlAttr *attr = node != NULL ? node->properties : NULL;
    int layout = node != NULL && node->type == XML_ELEMENT_NODE && named(node->name, "probe") && node->ns != NULL &&
                 named(node->ns->href, "urn:probe") && named(node->ns->prefix, "p") && node->nsDef == node->ns &&
                 text != NULL && text->type == XML_TEXT_NODE && named(text->content, "text") && text->parent == node &&
                 child != NULL && child->type == XML_ELEMENT_NODE && named(child->name, "c") && child->next == NULL &&
                 child->prev == text && node->last == child && child->ns == NULL && attr != NULL &&
                 attr->type == XML_ATTRIBUTE_NODE && named(attr->name, "a") && attr->next == NULL && attr->ns == NULL &&
                 attr->children != NULL && named(attr->children->content, "v") && attr->parent == node;
    if (!layout) {
        PyErr_SetString(PyExc_RuntimeError, "lxml's element or libxml2's node layout is not the one this module reads");
        return NULL;
    }
    if (read_limits(limits, "value_for_duty", &AMOUNT_VALUE_FOR_DUTY) < 0 ||
        read_limits(limits, "quantity", &AMOUNT_QUANTITY) < 0 || read_limits(limits, "invoice_amount", &AMOUNT_INVOICE) < 0 ||
        read_limits(limits, "duty_rate", &AMOUNT_RATE) < 0 || read_limits(limits, "value_for_tax", &AMOUNT_BASE) < 0 ||
        read_limits(limits, "paid", &AMOUNT_PAID) < 0) {
        return NULL;
    }
    Py_INCREF(cls);
    Py_XSETREF(element_type, (PyTypeObject *)cls);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", configure, METH_VARARGS,
     "configure(element_class, probe, amount_limits): check the layouts against a probe element; set the limits."},
    {"groups", groups, METH_O, "groups(element) -> (dict, list) | None: _HEADER's and each _LINE's groups, from the tree."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_cadxml_tree", "C accelerator of the CAD-IN fast path: its groups, from the tree.", -1,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__cadxml_tree(void)
{
    for (int i = 0; i < H_COUNT; i++) {
        if (header_keys[i] == NULL && (header_keys[i] = PyUnicode_InternFromString(header_names[i])) == NULL) {
            return NULL;
        }
    }
    return PyModule_Create(&module_def);
}
