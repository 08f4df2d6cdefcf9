{
  "targets": [
    {
      "target_name": "lb4_relay",
      "sources": ["native/relay-engine.c", "native/relay-addon.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"],
      "cflags!": ["-Wno-unused-parameter"],
      "libraries": ["-lpthread"]
    }
  ]
}
