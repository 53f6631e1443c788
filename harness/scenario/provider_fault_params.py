"""The mock providers' fault catalogue as data: generated, do not edit.

Rendered by `python -m mock_providers.paramschema harness/scenario/provider_fault_params.py`
from mock_providers' catalogue (harness never imports mock_providers); a test keeps the two
equal. Read it through `harness.scenario.provider_faults`.
"""

import json
from typing import Any

CATALOGUE: dict[str, Any] = json.loads(
    r"""
{
 "common": {
  "endpoints": {
   "type": "array",
   "items": {
    "type": "string"
   },
   "default": [],
   "description": "only calls to these paths, e.g. `/v1/chat/completions`"
  },
  "models": {
   "type": "array",
   "items": {
    "type": "string"
   },
   "default": [],
   "description": "only calls for these model ids"
  }
 },
 "types": {
  "error": {
   "params": {
    "status": {
     "type": "integer",
     "enum": [
      400,
      401,
      403,
      404,
      408,
      409,
      413,
      422,
      429,
      500,
      502,
      503,
      504,
      529
     ],
     "default": 500,
     "description": "HTTP status"
    },
    "should_retry": {
     "type": "string",
     "enum": [
      "",
      "true",
      "false"
     ],
     "default": "",
     "description": "`x-should-retry` header: `true`, `false` or empty for none"
    },
    "retry_after_s": {
     "type": [
      "number",
      "null"
     ],
     "minimum": 0,
     "default": null,
     "description": "adds `retry-after` / `retry-after-ms`"
    },
    "html": {
     "type": "string",
     "enum": [
      "auto",
      "true",
      "false"
     ],
     "default": "auto",
     "description": "`auto` (HTML for 502/504), `true`, `false`"
    },
    "message": {
     "type": "string",
     "default": "",
     "description": "override the error message"
    }
   },
   "streams_only": false
  },
  "rate_limit": {
   "params": {
    "retry_after_s": {
     "type": [
      "number",
      "null"
     ],
     "minimum": 0,
     "default": 1.0,
     "description": "wait announced to the client (null: no header, the SDK backs off)"
    },
    "retry_after_header": {
     "type": "string",
     "enum": [
      "both",
      "seconds",
      "ms"
     ],
     "default": "both",
     "description": "which headers carry it"
    },
    "rpm": {
     "type": [
      "integer",
      "null"
     ],
     "minimum": 1,
     "default": null,
     "description": "requests-per-minute bucket"
    },
    "tpm": {
     "type": [
      "integer",
      "null"
     ],
     "minimum": 1,
     "default": null,
     "description": "tokens-per-minute bucket"
    },
    "quota": {
     "type": "boolean",
     "default": false,
     "description": "OpenAI `insufficient_quota` instead"
    }
   },
   "streams_only": false
  },
  "latency": {
   "params": {
    "ms": {
     "type": "number",
     "minimum": 0,
     "maximum": 600000,
     "default": 1000.0,
     "description": "added delay"
    },
    "jitter_ms": {
     "type": "number",
     "minimum": 0,
     "default": 0.0,
     "description": "uniform extra 0..jitter"
    }
   },
   "streams_only": false
  },
  "slow_drift": {
   "params": {
    "ms_per_s": {
     "type": "number",
     "minimum": 0,
     "default": 100.0,
     "description": "growth rate"
    },
    "max_ms": {
     "type": "number",
     "minimum": 0,
     "maximum": 600000,
     "default": 10000.0,
     "description": "ceiling"
    }
   },
   "streams_only": false
  },
  "slow_first_token": {
   "params": {
    "ms": {
     "type": "number",
     "minimum": 0,
     "maximum": 600000,
     "default": 2000.0,
     "description": "added TTFT"
    }
   },
   "streams_only": false
  },
  "slow_cadence": {
   "params": {
    "interval_ms": {
     "type": "number",
     "minimum": 0,
     "maximum": 60000,
     "default": 200.0,
     "description": "gap between frames"
    }
   },
   "streams_only": false
  },
  "stream_stall": {
   "params": {
    "after_chunks": {
     "type": "integer",
     "minimum": 0,
     "default": 2,
     "description": "stream frames sent before the fault"
    },
    "stall_s": {
     "type": "number",
     "minimum": 0,
     "maximum": 600.0,
     "default": 30.0,
     "description": "stall length"
    },
    "then": {
     "type": "string",
     "enum": [
      "continue",
      "close"
     ],
     "default": "continue",
     "description": "after the stall"
    }
   },
   "streams_only": true
  },
  "stream_truncate": {
   "params": {
    "after_chunks": {
     "type": "integer",
     "minimum": 0,
     "default": 2,
     "description": "stream frames sent before the fault"
    }
   },
   "streams_only": true
  },
  "connection_reset": {
   "params": {
    "after_chunks": {
     "type": [
      "integer",
      "null"
     ],
     "minimum": 0,
     "default": null,
     "description": "null: before the response; n: mid-stream (streams only)"
    }
   },
   "streams_only": false
  },
  "malformed_frame": {
   "params": {
    "after_chunks": {
     "type": "integer",
     "minimum": 0,
     "default": 2,
     "description": "stream frames sent before the fault"
    }
   },
   "streams_only": true
  },
  "stream_error": {
   "params": {
    "after_chunks": {
     "type": "integer",
     "minimum": 0,
     "default": 2,
     "description": "stream frames sent before the fault"
    },
    "error_type": {
     "type": "string",
     "default": "",
     "description": "error type (default: `server_error` / `overloaded_error`)"
    }
   },
   "streams_only": true
  },
  "drift": {
   "params": {
    "profile": {
     "type": "string",
     "default": "",
     "description": "drift profile name"
    }
   },
   "streams_only": false
  },
  "tokenizer": {
   "params": {
    "scale": {
     "type": "number",
     "minimum": 0.01,
     "maximum": 100,
     "default": 1.5,
     "description": "token count multiplier"
    },
    "piece_chars": {
     "type": "integer",
     "minimum": 1,
     "maximum": 64,
     "default": 2,
     "description": "characters per token/chunk"
    },
    "context_window": {
     "type": [
      "integer",
      "null"
     ],
     "minimum": 1,
     "default": null,
     "description": "new context window"
    }
   },
   "streams_only": false
  },
  "safety": {
   "params": {
    "mode": {
     "type": "string",
     "enum": [
      "content_filter",
      "refusal",
      "azure_400"
     ],
     "default": "content_filter",
     "description": "how the filter shows"
    }
   },
   "streams_only": false
  },
  "deprecation": {
   "params": {},
   "streams_only": false
  },
  "wrong_answer": {
   "params": {},
   "streams_only": false
  },
  "capacity": {
   "params": {
    "max_concurrency": {
     "type": [
      "integer",
      "null"
     ],
     "minimum": 1,
     "maximum": 1000000,
     "default": null,
     "description": "calls served at once (null: unlimited)"
    },
    "queue": {
     "type": [
      "integer",
      "null"
     ],
     "minimum": 0,
     "maximum": 1000000,
     "default": null,
     "description": "calls waiting for a slot (null: unbounded); more get the overload answer"
    },
    "overload_status": {
     "type": [
      "integer",
      "null"
     ],
     "enum": [
      429,
      503,
      529
     ],
     "default": null,
     "description": "overload answer's status (default and choices per flavour: see Capacity)"
    },
    "ttft_slowdown": {
     "type": "number",
     "minimum": 0,
     "maximum": 1000,
     "default": 0.0,
     "description": "TTFT x (1 + this*(n-1)/max_concurrency) with n calls in service"
    },
    "tokens_slowdown": {
     "type": "number",
     "minimum": 0,
     "maximum": 1000,
     "default": 0.0,
     "description": "time per token x (1 + this*(n-1)/max_concurrency)"
    },
    "rpm": {
     "type": [
      "integer",
      "null"
     ],
     "minimum": 1,
     "default": null,
     "description": "enforced requests per minute per API key (null: reported, never enforced)"
    },
    "tpm": {
     "type": [
      "integer",
      "null"
     ],
     "minimum": 1,
     "default": null,
     "description": "enforced tokens (prompt + max output) per minute per API key"
    }
   },
   "streams_only": false
  }
 },
 "capacity": {
  "max_concurrency": {
   "type": [
    "integer",
    "null"
   ],
   "minimum": 1,
   "maximum": 1000000,
   "default": null,
   "description": "calls served at once (null: unlimited)"
  },
  "queue": {
   "type": [
    "integer",
    "null"
   ],
   "minimum": 0,
   "maximum": 1000000,
   "default": null,
   "description": "calls waiting for a slot (null: unbounded); more get the overload answer"
  },
  "overload_status": {
   "type": [
    "integer",
    "null"
   ],
   "enum": [
    429,
    503,
    529
   ],
   "default": null,
   "description": "overload answer's status (default and choices per flavour: see Capacity)"
  },
  "ttft_slowdown": {
   "type": "number",
   "minimum": 0,
   "maximum": 1000,
   "default": 0.0,
   "description": "TTFT x (1 + this*(n-1)/max_concurrency) with n calls in service"
  },
  "tokens_slowdown": {
   "type": "number",
   "minimum": 0,
   "maximum": 1000,
   "default": 0.0,
   "description": "time per token x (1 + this*(n-1)/max_concurrency)"
  },
  "rpm": {
   "type": [
    "integer",
    "null"
   ],
   "minimum": 1,
   "default": null,
   "description": "enforced requests per minute per API key (null: reported, never enforced)"
  },
  "tpm": {
   "type": [
    "integer",
    "null"
   ],
   "minimum": 1,
   "default": null,
   "description": "enforced tokens (prompt + max output) per minute per API key"
  }
 },
 "overload_statuses": {
  "openai": [
   503,
   429
  ],
  "anthropic": [
   529,
   503
  ],
  "azure": [
   429,
   503
  ],
  "gemini": [
   503,
   429
  ]
 },
 "drift_profiles": {
  "openai": [
   "fenced_json",
   "missing_usage",
   "usage_renamed",
   "no_choices",
   "empty_choices",
   "tool_args_object",
   "tool_args_invalid_json",
   "unknown_finish_reason",
   "content_parts",
   "legacy_function_call",
   "extra_fields",
   "error_in_200",
   "html_200",
   "stream_no_done",
   "stream_tool_no_index",
   "stream_event_lines",
   "stream_crlf"
  ],
  "anthropic": [
   "tool_input_string",
   "missing_usage",
   "missing_content",
   "unknown_block",
   "unknown_stop_reason",
   "content_string",
   "openai_shape",
   "extra_fields",
   "html_200",
   "stream_data_only",
   "stream_no_message_stop",
   "stream_no_message_start",
   "stream_delta_before_start",
   "stream_bad_partial_json",
   "stream_unknown_event"
  ],
  "azure": [
   "fenced_json",
   "missing_usage",
   "usage_renamed",
   "no_choices",
   "empty_choices",
   "tool_args_object",
   "tool_args_invalid_json",
   "unknown_finish_reason",
   "content_parts",
   "legacy_function_call",
   "extra_fields",
   "error_in_200",
   "html_200",
   "stream_no_done",
   "stream_tool_no_index",
   "stream_event_lines",
   "stream_crlf"
  ],
  "gemini": []
 }
}
"""
)
