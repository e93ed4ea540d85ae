{
    "patcher": {
        "fileversion": 1,
        "appversion": {
            "major": 8,
            "minor": 6,
            "revision": 0,
            "architecture": "x64",
            "modernui": 1
        },
        "classnamespace": "box",
        "rect": [
            100.0,
            100.0,
            1100.0,
            700.0
        ],
        "openinpresentation": 1,
        "default_fontsize": 10.0,
        "default_fontface": 0,
        "default_fontname": "Arial Bold",
        "gridonopen": 1,
        "gridsize": [
            8.0,
            8.0
        ],
        "gridsnaponopen": 1,
        "objectsnaponopen": 1,
        "statusbarvisible": 2,
        "toolbarvisible": 1,
        "boxanimatetime": 500,
        "enablehscroll": 1,
        "enablevscroll": 1,
        "devicewidth": 860.0,
        "description": "SerumRNN: step-by-step effect programming for Serum",
        "digest": "Tells you which Serum effect to switch on next and sets its knobs",
        "tags": "serum sound design effects",
        "style": "",
        "subpatcher_template": "",
        "boxes": [
            {
                "box": {
                    "id": "obj-1",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        20.0,
                        10.0,
                        480.0,
                        20.0
                    ],
                    "text": "Audio passes through untouched; a mono copy feeds the capture and the onset detector."
                }
            },
            {
                "box": {
                    "id": "obj-2",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 2,
                    "patching_rect": [
                        20.0,
                        40.0,
                        60.0,
                        22.0
                    ],
                    "outlettype": [
                        "signal",
                        "signal"
                    ],
                    "text": "plugin~"
                }
            },
            {
                "box": {
                    "id": "obj-3",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 2,
                    "patching_rect": [
                        20.0,
                        330.0,
                        60.0,
                        22.0
                    ],
                    "outlettype": [
                        "signal",
                        "signal"
                    ],
                    "text": "plugout~"
                }
            },
            {
                "box": {
                    "id": "obj-4",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        120.0,
                        80.0,
                        40.0,
                        22.0
                    ],
                    "outlettype": [
                        "signal"
                    ],
                    "text": "+~"
                }
            },
            {
                "box": {
                    "id": "obj-5",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        120.0,
                        110.0,
                        45.0,
                        22.0
                    ],
                    "outlettype": [
                        "signal"
                    ],
                    "text": "*~ 0.5"
                }
            },
            {
                "box": {
                    "id": "obj-6",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        240.0,
                        10.0,
                        300.0,
                        60.0
                    ],
                    "text": "Capture: record~ loops through a 4 s ring all the time; sah~ holds the ring position of the note's first sample (the gate below, in the signal path); the js then copies 1 s from there into ---capture and writes the WAV."
                }
            },
            {
                "box": {
                    "id": "obj-7",
                    "maxclass": "newobj",
                    "numinlets": 3,
                    "numoutlets": 1,
                    "patching_rect": [
                        240.0,
                        150.0,
                        150.0,
                        22.0
                    ],
                    "outlettype": [
                        "signal"
                    ],
                    "text": "record~ ---ring 1 @loop 1"
                }
            },
            {
                "box": {
                    "id": "obj-8",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        420.0,
                        400.0,
                        160.0,
                        22.0
                    ],
                    "outlettype": [
                        "float",
                        "bang"
                    ],
                    "text": "buffer~ ---capture 1000 1"
                }
            },
            {
                "box": {
                    "id": "obj-9",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        240.0,
                        80.0,
                        300.0,
                        47.0
                    ],
                    "text": "Onsets: the level (fast envelope) jumping 6 dB above its running level (slow envelope) and above -60 dB, while the js has armed the gate (sig~), latches sah~ and tells the js; so a note starts a capture over a reverb tail or in a looping clip."
                }
            },
            {
                "box": {
                    "id": "obj-10",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        120.0,
                        150.0,
                        40.0,
                        22.0
                    ],
                    "outlettype": [
                        "signal"
                    ],
                    "text": "abs~"
                }
            },
            {
                "box": {
                    "id": "obj-11",
                    "maxclass": "newobj",
                    "numinlets": 3,
                    "numoutlets": 1,
                    "patching_rect": [
                        120.0,
                        180.0,
                        85.0,
                        22.0
                    ],
                    "outlettype": [
                        "signal"
                    ],
                    "text": "slide~ 1 2205"
                }
            },
            {
                "box": {
                    "id": "obj-12",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        120.0,
                        210.0,
                        60.0,
                        22.0
                    ],
                    "outlettype": [
                        "signal"
                    ],
                    "text": ">~"
                }
            },
            {
                "box": {
                    "id": "obj-13",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        120.0,
                        330.0,
                        45.0,
                        22.0
                    ],
                    "outlettype": [
                        "bang",
                        "bang"
                    ],
                    "text": "edge~"
                }
            },
            {
                "box": {
                    "id": "obj-14",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        120.0,
                        360.0,
                        45.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "onset"
                }
            },
            {
                "box": {
                    "id": "obj-15",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [
                        560.0,
                        420.0,
                        140.0,
                        22.0
                    ],
                    "outlettype": [
                        "",
                        "",
                        ""
                    ],
                    "text": "js serumrnn_device.js"
                }
            },
            {
                "box": {
                    "id": "obj-16",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [
                        560.0,
                        40.0,
                        95.0,
                        22.0
                    ],
                    "outlettype": [
                        "bang",
                        "int",
                        "int"
                    ],
                    "text": "live.thisdevice"
                }
            },
            {
                "box": {
                    "id": "obj-17",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        560.0,
                        60.0,
                        420.0,
                        33.0
                    ],
                    "text": "Controls. Next and Done are Automated and Stored so they can be MIDI-mapped; Capture, Undo, Reset are Hidden (no Live undo entries). [route bang 0]: a click sends bang; Live sets a mapped button to 1 (a note toggles it, a CC sets 1 then 0): any non-zero value fires once and [assign 0] puts the button back to 0, so the next press is 0 -> 1 again whatever the mapping."
                }
            },
            {
                "box": {
                    "id": "obj-18",
                    "maxclass": "live.text",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        560.0,
                        100.0,
                        60.0,
                        20.0
                    ],
                    "outlettype": [
                        "",
                        ""
                    ],
                    "text": "Next",
                    "mode": 0,
                    "texton": "Next",
                    "varname": "Next",
                    "parameter_enable": 1,
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Next step",
                            "parameter_shortname": "Next",
                            "parameter_type": 2,
                            "parameter_invisible": 0,
                            "parameter_annotation_name": "Next step",
                            "parameter_info": "Asks SerumRNN for the next effect and sets it on Serum. MIDI-map it to a pad or pedal.",
                            "parameter_enum": [
                                "off",
                                "on"
                            ],
                            "parameter_mmax": 1
                        }
                    },
                    "annotation": "Asks SerumRNN for the next effect and sets it on Serum. MIDI-map it to a pad or pedal.",
                    "annotation_name": "Next step",
                    "presentation": 1,
                    "presentation_rect": [
                        116.0,
                        26.0,
                        64.0,
                        38.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-19",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [
                        560.0,
                        130.0,
                        70.0,
                        22.0
                    ],
                    "outlettype": [
                        "",
                        "",
                        ""
                    ],
                    "text": "route bang 0"
                }
            },
            {
                "box": {
                    "id": "obj-20",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        560.0,
                        160.0,
                        55.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "next"
                }
            },
            {
                "box": {
                    "id": "obj-21",
                    "maxclass": "live.text",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        630.0,
                        100.0,
                        60.0,
                        20.0
                    ],
                    "outlettype": [
                        "",
                        ""
                    ],
                    "text": "Capture",
                    "mode": 0,
                    "texton": "Capture",
                    "varname": "Capture",
                    "parameter_enable": 1,
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Capture",
                            "parameter_shortname": "Capture",
                            "parameter_type": 2,
                            "parameter_invisible": 2,
                            "parameter_annotation_name": "Capture",
                            "parameter_info": "Records the next note you play: the sound SerumRNN compares with the target.",
                            "parameter_enum": [
                                "off",
                                "on"
                            ],
                            "parameter_mmax": 1
                        }
                    },
                    "annotation": "Records the next note you play: the sound SerumRNN compares with the target.",
                    "annotation_name": "Capture",
                    "presentation": 1,
                    "presentation_rect": [
                        116.0,
                        70.0,
                        64.0,
                        18.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-22",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [
                        630.0,
                        130.0,
                        70.0,
                        22.0
                    ],
                    "outlettype": [
                        "",
                        "",
                        ""
                    ],
                    "text": "route bang 1"
                }
            },
            {
                "box": {
                    "id": "obj-23",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        630.0,
                        160.0,
                        55.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "capture"
                }
            },
            {
                "box": {
                    "id": "obj-24",
                    "maxclass": "live.text",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        700.0,
                        100.0,
                        60.0,
                        20.0
                    ],
                    "outlettype": [
                        "",
                        ""
                    ],
                    "text": "Undo",
                    "mode": 0,
                    "texton": "Undo",
                    "varname": "Undo",
                    "parameter_enable": 1,
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Undo step",
                            "parameter_shortname": "Undo",
                            "parameter_type": 2,
                            "parameter_invisible": 2,
                            "parameter_annotation_name": "Undo step",
                            "parameter_info": "Puts Serum's knobs back as they were before the last step.",
                            "parameter_enum": [
                                "off",
                                "on"
                            ],
                            "parameter_mmax": 1
                        }
                    },
                    "annotation": "Puts Serum's knobs back as they were before the last step.",
                    "annotation_name": "Undo step",
                    "presentation": 1,
                    "presentation_rect": [
                        116.0,
                        94.0,
                        64.0,
                        18.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-25",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [
                        700.0,
                        130.0,
                        70.0,
                        22.0
                    ],
                    "outlettype": [
                        "",
                        "",
                        ""
                    ],
                    "text": "route bang 1"
                }
            },
            {
                "box": {
                    "id": "obj-26",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        700.0,
                        160.0,
                        55.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "undo"
                }
            },
            {
                "box": {
                    "id": "obj-27",
                    "maxclass": "live.text",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        770.0,
                        100.0,
                        60.0,
                        20.0
                    ],
                    "outlettype": [
                        "",
                        ""
                    ],
                    "text": "Reset",
                    "mode": 0,
                    "texton": "Reset",
                    "varname": "Reset",
                    "parameter_enable": 1,
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Reset steps",
                            "parameter_shortname": "Reset",
                            "parameter_type": 2,
                            "parameter_invisible": 2,
                            "parameter_annotation_name": "Reset steps",
                            "parameter_info": "Puts Serum's knobs back as they were before the first step.",
                            "parameter_enum": [
                                "off",
                                "on"
                            ],
                            "parameter_mmax": 1
                        }
                    },
                    "annotation": "Puts Serum's knobs back as they were before the first step.",
                    "annotation_name": "Reset steps",
                    "presentation": 1,
                    "presentation_rect": [
                        116.0,
                        118.0,
                        64.0,
                        18.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-28",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [
                        770.0,
                        130.0,
                        70.0,
                        22.0
                    ],
                    "outlettype": [
                        "",
                        "",
                        ""
                    ],
                    "text": "route bang 1"
                }
            },
            {
                "box": {
                    "id": "obj-29",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        770.0,
                        160.0,
                        55.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "reset"
                }
            },
            {
                "box": {
                    "id": "obj-30",
                    "maxclass": "live.menu",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [
                        560.0,
                        200.0,
                        100.0,
                        15.0
                    ],
                    "outlettype": [
                        "",
                        "",
                        "float"
                    ],
                    "varname": "Group",
                    "parameter_enable": 1,
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Preset group",
                            "parameter_shortname": "Group",
                            "parameter_type": 2,
                            "parameter_invisible": 1,
                            "parameter_annotation_name": "Preset group",
                            "parameter_info": "The models to use: Basic Shapes, Advanced Shapes or Advanced Modulating Shapes (the group closest to your Serum preset).",
                            "parameter_enum": [
                                "basic",
                                "advanced",
                                "modulating"
                            ],
                            "parameter_mmax": 2,
                            "parameter_initial_enable": 1,
                            "parameter_initial": [
                                0
                            ]
                        }
                    },
                    "annotation": "The models to use: Basic Shapes, Advanced Shapes or Advanced Modulating Shapes (the group closest to your Serum preset).",
                    "annotation_name": "Preset group",
                    "presentation": 1,
                    "presentation_rect": [
                        8.0,
                        26.0,
                        100.0,
                        18.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-31",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        560.0,
                        230.0,
                        90.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "prepend group"
                }
            },
            {
                "box": {
                    "id": "obj-32",
                    "maxclass": "live.drop",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        680.0,
                        200.0,
                        120.0,
                        40.0
                    ],
                    "outlettype": [
                        "",
                        ""
                    ],
                    "varname": "Target",
                    "legend": "Drop target sound",
                    "decodemode": 1,
                    "parameter_enable": 1,
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Target sound",
                            "parameter_shortname": "Target",
                            "parameter_type": 4,
                            "parameter_invisible": 1,
                            "parameter_annotation_name": "Target sound",
                            "parameter_info": "Drop the sound you want (a WAV, AIFF or FLAC of one held note)."
                        }
                    },
                    "annotation": "Drop the sound you want (a WAV, AIFF or FLAC of one held note).",
                    "annotation_name": "Target sound",
                    "presentation": 1,
                    "presentation_rect": [
                        8.0,
                        50.0,
                        100.0,
                        86.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-34",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        680.0,
                        280.0,
                        95.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "prepend target"
                }
            },
            {
                "box": {
                    "id": "obj-35",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        560.0,
                        310.0,
                        420.0,
                        33.0
                    ],
                    "text": "OSC to serumrnn serve (docs/protocol.md): requests out; replies in on this instance's own port, which the js picks and names in each request."
                }
            },
            {
                "box": {
                    "id": "obj-36",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        560.0,
                        470.0,
                        140.0,
                        22.0
                    ],
                    "text": "udpsend 127.0.0.1 9870"
                }
            },
            {
                "box": {
                    "id": "obj-37",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        560.0,
                        350.0,
                        100.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "udpreceive 0"
                }
            },
            {
                "box": {
                    "id": "obj-41",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 7,
                    "patching_rect": [
                        720.0,
                        470.0,
                        300.0,
                        22.0
                    ],
                    "outlettype": [
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        ""
                    ],
                    "text": "route status serum instruction confidence detail configure"
                }
            },
            {
                "box": {
                    "id": "obj-42",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        720.0,
                        500.0,
                        75.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "prepend set"
                }
            },
            {
                "box": {
                    "id": "obj-43",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        720.0,
                        540.0,
                        200.0,
                        20.0
                    ],
                    "text": "Server: starting",
                    "varname": "status",
                    "fontsize": 10.0,
                    "presentation": 1,
                    "presentation_rect": [
                        188.0,
                        4.0,
                        404.0,
                        18.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-44",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        780.0,
                        500.0,
                        75.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "prepend set"
                }
            },
            {
                "box": {
                    "id": "obj-45",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        780.0,
                        570.0,
                        200.0,
                        20.0
                    ],
                    "text": "Looking for Serum",
                    "varname": "serum",
                    "fontsize": 10.0,
                    "presentation": 1,
                    "presentation_rect": [
                        188.0,
                        120.0,
                        404.0,
                        44.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-46",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        840.0,
                        500.0,
                        75.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "prepend set"
                }
            },
            {
                "box": {
                    "id": "obj-47",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        840.0,
                        600.0,
                        200.0,
                        20.0
                    ],
                    "text": "Drop a target sound, then press Next",
                    "varname": "instruction",
                    "fontsize": 13.0,
                    "presentation": 1,
                    "presentation_rect": [
                        188.0,
                        24.0,
                        404.0,
                        40.0
                    ],
                    "fontface": 1
                }
            },
            {
                "box": {
                    "id": "obj-48",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        900.0,
                        500.0,
                        75.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "prepend set"
                }
            },
            {
                "box": {
                    "id": "obj-49",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        900.0,
                        630.0,
                        200.0,
                        20.0
                    ],
                    "text": "",
                    "varname": "confidence",
                    "fontsize": 10.0,
                    "presentation": 1,
                    "presentation_rect": [
                        188.0,
                        66.0,
                        404.0,
                        18.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-50",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        960.0,
                        500.0,
                        75.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "prepend set"
                }
            },
            {
                "box": {
                    "id": "obj-51",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        960.0,
                        660.0,
                        200.0,
                        20.0
                    ],
                    "text": "",
                    "varname": "detail",
                    "fontsize": 10.0,
                    "presentation": 1,
                    "presentation_rect": [
                        188.0,
                        86.0,
                        404.0,
                        32.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-52",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        20.0,
                        400.0,
                        80.0,
                        20.0
                    ],
                    "text": "SerumRNN",
                    "fontsize": 12.0,
                    "fontface": 1,
                    "presentation": 1,
                    "presentation_rect": [
                        8.0,
                        4.0,
                        100.0,
                        20.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-53",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        420.0,
                        370.0,
                        140.0,
                        22.0
                    ],
                    "text": "buffer~ ---ring 4000 1",
                    "outlettype": [
                        "float",
                        "bang"
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-54",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        120.0,
                        240.0,
                        55.0,
                        22.0
                    ],
                    "text": "change~",
                    "outlettype": [
                        "signal"
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-55",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        120.0,
                        270.0,
                        40.0,
                        22.0
                    ],
                    "text": ">~ 0",
                    "outlettype": [
                        "signal"
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-56",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        120.0,
                        300.0,
                        40.0,
                        22.0
                    ],
                    "text": "*~",
                    "outlettype": [
                        "signal"
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-57",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        180.0,
                        270.0,
                        40.0,
                        22.0
                    ],
                    "text": "sig~",
                    "outlettype": [
                        "signal"
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-58",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        240.0,
                        300.0,
                        60.0,
                        22.0
                    ],
                    "text": "sah~ 0.5",
                    "outlettype": [
                        "signal"
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-59",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        240.0,
                        330.0,
                        65.0,
                        22.0
                    ],
                    "text": "snapshot~",
                    "outlettype": [
                        "float"
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-60",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        240.0,
                        360.0,
                        100.0,
                        22.0
                    ],
                    "text": "prepend onsetat",
                    "outlettype": [
                        ""
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-61",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 10,
                    "patching_rect": [
                        240.0,
                        470.0,
                        300.0,
                        22.0
                    ],
                    "text": "route port arm snap ring cap rec home launch sendport",
                    "outlettype": [
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        "",
                        ""
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-62",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        240.0,
                        500.0,
                        80.0,
                        22.0
                    ],
                    "text": "prepend port",
                    "outlettype": [
                        ""
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-63",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        420.0,
                        340.0,
                        85.0,
                        22.0
                    ],
                    "text": "prepend name",
                    "outlettype": [
                        ""
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-64",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        520.0,
                        370.0,
                        85.0,
                        22.0
                    ],
                    "text": "prepend name",
                    "outlettype": [
                        ""
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-65",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        330.0,
                        500.0,
                        40.0,
                        22.0
                    ],
                    "text": "t b l",
                    "outlettype": [
                        "bang",
                        ""
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-66",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        350.0,
                        530.0,
                        75.0,
                        22.0
                    ],
                    "text": "prepend set",
                    "outlettype": [
                        ""
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-67",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "outlettype": [
                        ""
                    ],
                    "patching_rect": [
                        330.0,
                        530.0,
                        20.0,
                        22.0
                    ],
                    "text": "1"
                }
            },
            {
                "box": {
                    "id": "obj-68",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "outlettype": [
                        ""
                    ],
                    "patching_rect": [
                        400.0,
                        560.0,
                        35.0,
                        22.0
                    ],
                    "text": "~:/"
                }
            },
            {
                "box": {
                    "id": "obj-69",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        400.0,
                        590.0,
                        150.0,
                        22.0
                    ],
                    "text": "conformpath max absolute",
                    "outlettype": [
                        "",
                        "int"
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-70",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        400.0,
                        620.0,
                        85.0,
                        22.0
                    ],
                    "text": "prepend home",
                    "outlettype": [
                        ""
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-80",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        240.0,
                        560.0,
                        230.0,
                        22.0
                    ],
                    "outlettype": [
                        "",
                        ""
                    ],
                    "text": "node.script server_launcher.js @autostart 1"
                }
            },
            {
                "box": {
                    "id": "obj-81",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        480.0,
                        500.0,
                        80.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "prepend port"
                }
            },
            {
                "box": {
                    "id": "obj-82",
                    "maxclass": "live.numbox",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        700.0,
                        200.0,
                        60.0,
                        15.0
                    ],
                    "outlettype": [
                        "",
                        "float"
                    ],
                    "varname": "Port",
                    "parameter_enable": 1,
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Server port",
                            "parameter_shortname": "Port",
                            "parameter_type": 1,
                            "parameter_invisible": 1,
                            "parameter_annotation_name": "Server port",
                            "parameter_info": "The UDP port of SerumRNN's server (default 9870). Change it only when another program uses 9870.",
                            "parameter_mmin": 1024.0,
                            "parameter_mmax": 65535.0,
                            "parameter_initial_enable": 1,
                            "parameter_initial": [
                                9870
                            ],
                            "parameter_unitstyle": 0
                        }
                    },
                    "annotation": "The UDP port of SerumRNN's server (default 9870). Change it only when another program uses 9870.",
                    "annotation_name": "Server port",
                    "presentation": 1,
                    "presentation_rect": [
                        8.0,
                        142.0,
                        100.0,
                        18.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-83",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        700.0,
                        230.0,
                        110.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "prepend serverport"
                }
            },
            {
                "box": {
                    "id": "obj-84",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        640.0,
                        160.0,
                        40.0,
                        22.0
                    ],
                    "outlettype": [
                        "",
                        ""
                    ],
                    "text": "t b b"
                }
            },
            {
                "box": {
                    "id": "obj-84a",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "outlettype": [
                        ""
                    ],
                    "patching_rect": [
                        700.0,
                        160.0,
                        60.0,
                        22.0
                    ],
                    "text": "assign 0"
                }
            },
            {
                "box": {
                    "id": "obj-86",
                    "maxclass": "live.text",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        860.0,
                        100.0,
                        60.0,
                        20.0
                    ],
                    "outlettype": [
                        "",
                        ""
                    ],
                    "text": "Done",
                    "mode": 0,
                    "texton": "Done",
                    "varname": "Done",
                    "parameter_enable": 1,
                    "saved_attribute_attributes": {
                        "valueof": {
                            "parameter_longname": "Done by hand",
                            "parameter_shortname": "Done",
                            "parameter_type": 2,
                            "parameter_invisible": 0,
                            "parameter_annotation_name": "Done by hand",
                            "parameter_info": "Say you have set the shown setting in Serum by hand: SerumRNN listens to the next note and judges it. MIDI-map it to a pad or pedal.",
                            "parameter_enum": [
                                "off",
                                "on"
                            ],
                            "parameter_mmax": 1
                        }
                    },
                    "annotation": "Say you have set the shown setting in Serum by hand: SerumRNN listens to the next note and judges it. MIDI-map it to a pad or pedal.",
                    "annotation_name": "Done by hand",
                    "presentation": 1,
                    "presentation_rect": [
                        116.0,
                        142.0,
                        64.0,
                        18.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-87",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 3,
                    "patching_rect": [
                        860.0,
                        130.0,
                        70.0,
                        22.0
                    ],
                    "outlettype": [
                        "",
                        "",
                        ""
                    ],
                    "text": "route bang 0"
                }
            },
            {
                "box": {
                    "id": "obj-88",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "outlettype": [
                        ""
                    ],
                    "patching_rect": [
                        860.0,
                        190.0,
                        40.0,
                        22.0
                    ],
                    "text": "done"
                }
            },
            {
                "box": {
                    "id": "obj-89",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 2,
                    "patching_rect": [
                        940.0,
                        160.0,
                        40.0,
                        22.0
                    ],
                    "outlettype": [
                        "",
                        ""
                    ],
                    "text": "t b b"
                }
            },
            {
                "box": {
                    "id": "obj-89a",
                    "maxclass": "message",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "outlettype": [
                        ""
                    ],
                    "patching_rect": [
                        1000.0,
                        160.0,
                        60.0,
                        22.0
                    ],
                    "text": "assign 0"
                }
            },
            {
                "box": {
                    "id": "obj-90",
                    "maxclass": "newobj",
                    "numinlets": 1,
                    "numoutlets": 1,
                    "patching_rect": [
                        1000.0,
                        540.0,
                        70.0,
                        22.0
                    ],
                    "outlettype": [
                        ""
                    ],
                    "text": "prepend set"
                }
            },
            {
                "box": {
                    "id": "obj-91",
                    "maxclass": "comment",
                    "numinlets": 1,
                    "numoutlets": 0,
                    "patching_rect": [
                        1000.0,
                        570.0,
                        250.0,
                        20.0
                    ],
                    "text": "",
                    "varname": "configure",
                    "fontsize": 9.0,
                    "presentation": 1,
                    "presentation_rect": [
                        600.0,
                        4.0,
                        252.0,
                        160.0
                    ]
                }
            },
            {
                "box": {
                    "id": "obj-92",
                    "maxclass": "newobj",
                    "numinlets": 3,
                    "numoutlets": 1,
                    "patching_rect": [
                        220.0,
                        180.0,
                        95.0,
                        22.0
                    ],
                    "outlettype": [
                        "signal"
                    ],
                    "text": "slide~ 4410 4410"
                }
            },
            {
                "box": {
                    "id": "obj-93",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        220.0,
                        210.0,
                        45.0,
                        22.0
                    ],
                    "outlettype": [
                        "signal"
                    ],
                    "text": "*~ 2."
                }
            },
            {
                "box": {
                    "id": "obj-94",
                    "maxclass": "newobj",
                    "numinlets": 2,
                    "numoutlets": 1,
                    "patching_rect": [
                        220.0,
                        240.0,
                        60.0,
                        22.0
                    ],
                    "outlettype": [
                        "signal"
                    ],
                    "text": "+~ 0.001"
                }
            }
        ],
        "lines": [
            {
                "patchline": {
                    "source": [
                        "obj-2",
                        0
                    ],
                    "destination": [
                        "obj-3",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-2",
                        1
                    ],
                    "destination": [
                        "obj-3",
                        1
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-2",
                        0
                    ],
                    "destination": [
                        "obj-4",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-2",
                        1
                    ],
                    "destination": [
                        "obj-4",
                        1
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-4",
                        0
                    ],
                    "destination": [
                        "obj-5",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-5",
                        0
                    ],
                    "destination": [
                        "obj-7",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-5",
                        0
                    ],
                    "destination": [
                        "obj-10",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-10",
                        0
                    ],
                    "destination": [
                        "obj-11",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-11",
                        0
                    ],
                    "destination": [
                        "obj-12",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-16",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-18",
                        0
                    ],
                    "destination": [
                        "obj-19",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-19",
                        0
                    ],
                    "destination": [
                        "obj-20",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-20",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-21",
                        0
                    ],
                    "destination": [
                        "obj-22",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-22",
                        0
                    ],
                    "destination": [
                        "obj-23",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-23",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-24",
                        0
                    ],
                    "destination": [
                        "obj-25",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-25",
                        0
                    ],
                    "destination": [
                        "obj-26",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-26",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-27",
                        0
                    ],
                    "destination": [
                        "obj-28",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-28",
                        0
                    ],
                    "destination": [
                        "obj-29",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-29",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-30",
                        1
                    ],
                    "destination": [
                        "obj-31",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-31",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-34",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-15",
                        0
                    ],
                    "destination": [
                        "obj-36",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-37",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-15",
                        1
                    ],
                    "destination": [
                        "obj-41",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-41",
                        0
                    ],
                    "destination": [
                        "obj-42",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-42",
                        0
                    ],
                    "destination": [
                        "obj-43",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-41",
                        1
                    ],
                    "destination": [
                        "obj-44",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-44",
                        0
                    ],
                    "destination": [
                        "obj-45",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-41",
                        2
                    ],
                    "destination": [
                        "obj-46",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-46",
                        0
                    ],
                    "destination": [
                        "obj-47",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-41",
                        3
                    ],
                    "destination": [
                        "obj-48",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-48",
                        0
                    ],
                    "destination": [
                        "obj-49",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-41",
                        4
                    ],
                    "destination": [
                        "obj-50",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-50",
                        0
                    ],
                    "destination": [
                        "obj-51",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-22",
                        1
                    ],
                    "destination": [
                        "obj-23",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-25",
                        1
                    ],
                    "destination": [
                        "obj-26",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-28",
                        1
                    ],
                    "destination": [
                        "obj-29",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-32",
                        0
                    ],
                    "destination": [
                        "obj-34",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-12",
                        0
                    ],
                    "destination": [
                        "obj-54",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-54",
                        0
                    ],
                    "destination": [
                        "obj-55",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-55",
                        0
                    ],
                    "destination": [
                        "obj-56",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-57",
                        0
                    ],
                    "destination": [
                        "obj-56",
                        1
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-56",
                        0
                    ],
                    "destination": [
                        "obj-58",
                        1
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-7",
                        0
                    ],
                    "destination": [
                        "obj-58",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-56",
                        0
                    ],
                    "destination": [
                        "obj-13",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-13",
                        0
                    ],
                    "destination": [
                        "obj-14",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-14",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-58",
                        0
                    ],
                    "destination": [
                        "obj-59",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-59",
                        0
                    ],
                    "destination": [
                        "obj-60",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-60",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-15",
                        2
                    ],
                    "destination": [
                        "obj-61",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-61",
                        0
                    ],
                    "destination": [
                        "obj-62",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-62",
                        0
                    ],
                    "destination": [
                        "obj-37",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-61",
                        1
                    ],
                    "destination": [
                        "obj-57",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-61",
                        2
                    ],
                    "destination": [
                        "obj-59",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-61",
                        3
                    ],
                    "destination": [
                        "obj-63",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-63",
                        0
                    ],
                    "destination": [
                        "obj-53",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-61",
                        4
                    ],
                    "destination": [
                        "obj-64",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-64",
                        0
                    ],
                    "destination": [
                        "obj-8",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-61",
                        5
                    ],
                    "destination": [
                        "obj-65",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-65",
                        1
                    ],
                    "destination": [
                        "obj-66",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-66",
                        0
                    ],
                    "destination": [
                        "obj-7",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-65",
                        0
                    ],
                    "destination": [
                        "obj-67",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-67",
                        0
                    ],
                    "destination": [
                        "obj-7",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-61",
                        6
                    ],
                    "destination": [
                        "obj-68",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-68",
                        0
                    ],
                    "destination": [
                        "obj-69",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-69",
                        0
                    ],
                    "destination": [
                        "obj-70",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-70",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-80",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-61",
                        7
                    ],
                    "destination": [
                        "obj-80",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-61",
                        8
                    ],
                    "destination": [
                        "obj-81",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-81",
                        0
                    ],
                    "destination": [
                        "obj-36",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-82",
                        0
                    ],
                    "destination": [
                        "obj-83",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-83",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-19",
                        2
                    ],
                    "destination": [
                        "obj-84",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-84",
                        0
                    ],
                    "destination": [
                        "obj-20",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-84",
                        1
                    ],
                    "destination": [
                        "obj-84a",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-84a",
                        0
                    ],
                    "destination": [
                        "obj-18",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-86",
                        0
                    ],
                    "destination": [
                        "obj-87",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-87",
                        0
                    ],
                    "destination": [
                        "obj-88",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-88",
                        0
                    ],
                    "destination": [
                        "obj-15",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-87",
                        2
                    ],
                    "destination": [
                        "obj-89",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-89",
                        0
                    ],
                    "destination": [
                        "obj-88",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-89",
                        1
                    ],
                    "destination": [
                        "obj-89a",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-89a",
                        0
                    ],
                    "destination": [
                        "obj-86",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-41",
                        5
                    ],
                    "destination": [
                        "obj-90",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-90",
                        0
                    ],
                    "destination": [
                        "obj-91",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-10",
                        0
                    ],
                    "destination": [
                        "obj-92",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-92",
                        0
                    ],
                    "destination": [
                        "obj-93",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-93",
                        0
                    ],
                    "destination": [
                        "obj-94",
                        0
                    ]
                }
            },
            {
                "patchline": {
                    "source": [
                        "obj-94",
                        0
                    ],
                    "destination": [
                        "obj-12",
                        1
                    ]
                }
            }
        ],
        "dependency_cache": [],
        "latency": 0,
        "is_mpe": 0,
        "minimum_live_version": "",
        "minimum_max_version": "",
        "platform_compatibility": 0,
        "autosave": 0
    }
}
