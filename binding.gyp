{
  "targets": [
    {
      "target_name": "lb4_relay",
      "sources": ["native/relay.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-lpthread"]
    }
  ]
}
