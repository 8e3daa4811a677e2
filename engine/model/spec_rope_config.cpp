// RoPE config parsing: rope type names, required keys per type, and range checks.
#include "model/spec_rope_config.h"

#include <cmath>

namespace nibble {
namespace {

using json = nlohmann::json;

Error bad(const std::string& file, const std::string& what) {
  return make_error(ErrorKind::format, file, ": ", what);
}

// A positive finite number at `key` of `obj`, or `fallback` when absent/null (nullopt: required).
Result<double> number(const json& obj, const std::string& file, const std::string& where, const char* key,
                      std::optional<double> fallback) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    if (!fallback) return bad(file, where + " needs '" + key + "'");
    return *fallback;
  }
  if (!it->is_number() || !std::isfinite(it->get<double>()))
    return bad(file, where + ": '" + key + "' must be a finite number");
  return it->get<double>();
}

Result<std::optional<double>> optional_number(const json& obj, const std::string& file, const std::string& where,
                                              const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::optional<double>();
  if (!it->is_number() || !std::isfinite(it->get<double>()))
    return bad(file, where + ": '" + key + "' must be a finite number");
  return std::optional<double>(it->get<double>());
}

}  // namespace

std::string_view rope_type_name(RopeType t) {
  switch (t) {
    case RopeType::standard: return "default";
    case RopeType::linear: return "linear";
    case RopeType::llama3: return "llama3";
    case RopeType::yarn: return "yarn";
  }
  return "?";
}

Status read_rope_config(const json& j, const std::string& file, ModelSpec& s) {
  RopeSpec& r = s.rope;
  NIBBLE_ASSIGN_OR_RETURN(r.theta, number(j, file, "config", "rope_theta", 10000.0));

  // The parameter object: rope_parameters (transformers 5), else rope_scaling (classic), else none.
  json params = json::object();
  std::string where = "rope_scaling";
  auto rp = j.find("rope_parameters");
  auto rs = j.find("rope_scaling");
  if (rp != j.end() && !rp->is_null()) {
    if (!rp->is_object()) return bad(file, "'rope_parameters' must be an object");
    params = *rp;
    where = "rope_parameters";
    // Per-layer-type form ({"full_attention": {...}, ...}): the models Nibble runs use one setting.
    if (!params.contains("rope_type") && !params.contains("type") && !params.contains("rope_theta")) {
      auto full = params.find("full_attention");
      if (full == params.end() || !full->is_object())
        return make_error(ErrorKind::unsupported, file, ": per-layer-type rope_parameters are not supported");
      json inner = *full;
      params = std::move(inner);
    }
  } else if (rs != j.end() && !rs->is_null()) {
    if (!rs->is_object()) return bad(file, "'rope_scaling' must be an object or null");
    params = *rs;
  }
  if (params.contains("rope_theta")) {
    NIBBLE_ASSIGN_OR_RETURN(r.theta, number(params, file, where, "rope_theta", 10000.0));
  }
  if (!(r.theta > 1.0)) return bad(file, "rope_theta must be greater than 1");

  NIBBLE_ASSIGN_OR_RETURN(double prf, number(params, file, where, "partial_rotary_factor", 1.0));
  NIBBLE_ASSIGN_OR_RETURN(double prf_top, number(j, file, "config", "partial_rotary_factor", 1.0));
  if (prf != 1.0 || prf_top != 1.0)
    return make_error(ErrorKind::unsupported, file, ": partial rotary embeddings (partial_rotary_factor) are not supported");

  std::string type = "default";
  for (const char* key : {"rope_type", "type"}) {
    auto t = params.find(key);
    if (t != params.end() && t->is_string()) {
      type = t->get<std::string>();
      break;
    }
  }
  const std::string w = where + " (" + type + ")";
  if (type == "default") {
    r.type = RopeType::standard;
    return {};
  }
  NIBBLE_ASSIGN_OR_RETURN(r.factor, number(params, file, w, "factor", type == "yarn" ? std::optional<double>(0.0) : std::nullopt));
  if (type == "linear") {
    r.type = RopeType::linear;
  } else if (type == "llama3") {
    r.type = RopeType::llama3;
    NIBBLE_ASSIGN_OR_RETURN(r.low_freq_factor, number(params, file, w, "low_freq_factor", std::nullopt));
    NIBBLE_ASSIGN_OR_RETURN(r.high_freq_factor, number(params, file, w, "high_freq_factor", std::nullopt));
    NIBBLE_ASSIGN_OR_RETURN(double orig, number(params, file, w, "original_max_position_embeddings", std::nullopt));
    if (!(orig >= 1 && orig < 1e9)) return bad(file, w + ": original_max_position_embeddings out of range");
    r.original_max_positions = static_cast<int>(orig);
    if (!(r.low_freq_factor > 0) || !(r.high_freq_factor > r.low_freq_factor))
      return bad(file, w + ": needs 0 < low_freq_factor < high_freq_factor");
  } else if (type == "yarn") {
    r.type = RopeType::yarn;
    NIBBLE_ASSIGN_OR_RETURN(double orig, number(params, file, w, "original_max_position_embeddings",
                                                static_cast<double>(s.max_positions)));
    if (!(orig >= 1 && orig < 1e9)) return bad(file, w + ": original_max_position_embeddings out of range");
    r.original_max_positions = static_cast<int>(orig);
    if (r.factor == 0.0) r.factor = static_cast<double>(s.max_positions) / orig;  // factor absent
    NIBBLE_ASSIGN_OR_RETURN(r.attention_factor, optional_number(params, file, w, "attention_factor"));
    NIBBLE_ASSIGN_OR_RETURN(r.mscale, optional_number(params, file, w, "mscale"));
    NIBBLE_ASSIGN_OR_RETURN(r.mscale_all_dim, optional_number(params, file, w, "mscale_all_dim"));
    NIBBLE_ASSIGN_OR_RETURN(auto bf, optional_number(params, file, w, "beta_fast"));
    NIBBLE_ASSIGN_OR_RETURN(auto bs, optional_number(params, file, w, "beta_slow"));
    // transformers uses `get(...) or default`: 0 also falls back.
    r.beta_fast = (bf && *bf != 0.0) ? *bf : 32.0;
    r.beta_slow = (bs && *bs != 0.0) ? *bs : 1.0;
    if (!(r.beta_fast > 0) || !(r.beta_slow > 0)) return bad(file, w + ": beta_fast and beta_slow must be positive");
    auto tr = params.find("truncate");
    if (tr != params.end() && tr->is_boolean()) r.truncate = tr->get<bool>();
  } else {
    return make_error(ErrorKind::unsupported, file, ": RoPE type '", type,
                      "' is not supported (Nibble runs default, linear, llama3 and yarn)");
  }
  if (!(r.factor > 0.0 && r.factor < 1e6)) return bad(file, w + ": 'factor' must be positive");
  return {};
}

}  // namespace nibble
