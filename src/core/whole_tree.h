#pragma once
// GCE's whole-tree reads on the OpenStack and EC2 paths: `?recursive=true` answers a directory
// with everything below it in one document, `?alt=json|text` chooses the form. Forms, for a
// route (core::ResolvePath) of an instance:
//
//  * text, not recursive (the default, and alt=text alone): exactly core::Render's answer.
//  * json, not recursive: a directory (an EC2 directory, an OpenStack version) as a JSON array of
//    its listing's lines; a leaf as its JSON value: EC2 strings as strings, lists as arrays,
//    None as null, numbers as numbers; an OpenStack JSON file (meta_data.json, vendor_data.json,
//    vendor_data2.json, network_data.json) as it is; user_data, password and content files as
//    strings.
//  * json, recursive (what recursive=true gives by default): a directory as an object of its
//    entries keyed by path component (what to append to the URL: EC2 public keys as "0", not
//    the listing's "0=name"), recursively, EC2 keys sorted as its listings sort them, an
//    OpenStack version's files in its listing's order, JSON files embedded as objects (their
//    text as served, so meta_data.json's keys keep Nova's order), other files as strings. A
//    leaf as in json, not recursive.
//  * text, recursive (alt=text): one line "RELATIVE/PATH VALUE\n" per leaf below the directory,
//    in the same order; list items are numbered ("security-groups/0 default"), an OpenStack
//    JSON file is walked like a directory ("meta_data.json/meta/role web"), its non-string
//    values written as JSON (true, null, 3). EC2 values are written as their own paths answer
//    them (None, True). A value is written as it is, so one holding a line feed (user data)
//    continues on the next line: read such values with alt=json. A leaf alone: as text, not
//    recursive.
//
// In JSON, a value that is not valid UTF-8 (binary user data) is an object {"base64": "..."}
// (a string stays a string, so the two cannot be confused). Every JSON form is written as Python's
// json.dumps writes it (core/py_json.h), with Content-Type application/json; text forms keep
// text/plain. The version lists ("/ec2", "/openstack") have no whole-tree form: they are answered
// as without a query. Errors are core::Render's (kNotFound). Pure; thread-safe as long as
// ctx.random is.

#include "base/error.h"
#include "core/instance.h"
#include "core/metadata.h"
#include "core/route.h"

namespace metastack::core {

struct TreeQuery {
  bool recursive = false;
  enum class Form { kDefault, kJson, kText };
  Form form = Form::kDefault;  // kDefault: json when recursive, else text

  bool Plain() const { return !recursive && form != Form::kJson; }
  bool operator==(const TreeQuery&) const = default;
};

Result<Document> RenderTree(const Instance& instance, const Route& route, const Settings& settings,
                            const RenderContext& ctx, const TreeQuery& query);

}  // namespace metastack::core
