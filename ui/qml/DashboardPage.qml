// The dashboard: where memory goes (per GPU: our weights, KV cache and scratch, and what other
// processes use; utilisation and temperature when NVML is present; the CPU/RAM side), the model's
// load time and KV cache fill, and a timeline of prefill and decode tokens/s over recent
// generations with time to first token and reused prefix. Numbers come from the engine's own
// counters through `dashboard` (DashboardViewModel), polled once a second while the page is shown.
// When the local API server runs, its traffic (requests, tokens, tokens/s) and the memory of its
// model copy come from `apiServer` (ServerController).
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtCharts

Page {
    id: page
    property var dashboard: null
    // The app's API server, when the context has one (the app does; tests may not).
    property var server: typeof apiServer !== "undefined" ? apiServer : null
    signal closeRequested()

    Accessible.name: qsTr("Dashboard")
    // Sized by the window's layout; fixed implicit sizes keep the Loader from sizing it by content.
    implicitWidth: 480
    implicitHeight: 360
    Component.onCompleted: if (dashboard) dashboard.active = true
    Component.onDestruction: if (dashboard) dashboard.active = false

    // Segment colours from the palette: our three categories in shades of the highlight, other
    // processes in the neutral mid tone.
    readonly property color weightsColor: palette.highlight
    readonly property color kvColor: Qt.lighter(palette.highlight, 1.45)
    readonly property color scratchColor: Qt.darker(palette.highlight, 1.5)
    readonly property color otherColor: palette.mid

    header: ToolBar {
        Accessible.name: qsTr("Dashboard toolbar")
        RowLayout {
            anchors.fill: parent
            anchors.leftMargin: 12
            anchors.rightMargin: 6
            Label {
                text: qsTr("Dashboard")
                font.bold: true
                font.pointSize: Qt.application.font.pointSize * 1.2
                Accessible.name: qsTr("Dashboard")
            }
            Label {
                Layout.fillWidth: true
                elide: Text.ElideRight
                opacity: 0.8
                text: page.dashboard && page.dashboard.modelLoaded
                      ? qsTr("on %1 · loaded in %2").arg(page.dashboard.device).arg(page.dashboard.loadTimeText)
                      : qsTr("No model loaded")
                Accessible.name: qsTr("Model device and load time: %1").arg(text)
            }
            ToolButton {
                text: qsTr("Close")
                Accessible.name: qsTr("Close the dashboard")
                onClicked: page.closeRequested()
            }
        }
    }

    component Swatch: RowLayout {
        property color color
        property string label
        spacing: 4
        Rectangle { width: 10; height: 10; radius: 2; color: parent.color; Accessible.ignored: true }
        Label { text: parent.label; Accessible.name: parent.label }
    }

    // A horizontal bar of stacked fractions (0..1 of the device's total).
    component MemoryBar: Rectangle {
        id: bar
        property var parts: []   // [{fraction, color}]
        property string summary
        implicitHeight: 18
        radius: 3
        property color trackColor: "transparent"
        property color edgeColor: "gray"
        color: trackColor
        border.color: edgeColor
        Accessible.role: Accessible.Chart
        Accessible.name: summary
        Row {
            anchors.fill: parent
            anchors.margins: 1
            Repeater {
                model: bar.parts
                Rectangle {
                    required property var modelData
                    height: parent.height
                    width: Math.max(0, Math.min(1, modelData.fraction)) * parent.width
                    color: modelData.color
                }
            }
        }
    }

    ScrollView {
        id: scroll
        anchors.fill: parent
        contentWidth: availableWidth
        Accessible.name: qsTr("Dashboard contents")

        ColumnLayout {
            width: scroll.availableWidth
            spacing: 12

            Item { implicitHeight: 4 }

            Repeater {
                model: page.dashboard ? page.dashboard.gpus : []
                GroupBox {
                    required property var modelData
                    Layout.fillWidth: true
                    Layout.leftMargin: 12
                    Layout.rightMargin: 12
                    title: qsTr("GPU %1 — %2").arg(modelData.index).arg(modelData.name)
                    Accessible.name: title
                    ColumnLayout {
                        anchors.fill: parent
                        spacing: 6
                        RowLayout {
                            Label {
                                Layout.fillWidth: true
                                text: qsTr("%1 used of %2").arg(modelData.usedBytesText).arg(modelData.totalBytesText)
                                Accessible.name: text
                            }
                            Label {
                                visible: modelData.telemetry
                                text: qsTr("Utilisation %1 · %2").arg(modelData.utilizationText).arg(modelData.temperatureText)
                                Accessible.name: qsTr("GPU utilisation and temperature: %1").arg(text)
                            }
                        }
                        MemoryBar {
                            Layout.fillWidth: true
                            trackColor: page.palette.base
                            edgeColor: page.palette.mid
                            summary: qsTr("GPU memory: weights %1, KV cache %2, scratch %3, other %4 of %5")
                                     .arg(modelData.ourWeightsText).arg(modelData.ourKvCacheText)
                                     .arg(modelData.ourScratchText).arg(modelData.otherBytesText).arg(modelData.totalBytesText)
                            parts: [{ fraction: modelData.ourWeightsFraction, color: page.weightsColor },
                                    { fraction: modelData.ourKvCacheFraction, color: page.kvColor },
                                    { fraction: modelData.ourScratchFraction, color: page.scratchColor },
                                    { fraction: modelData.otherBytesFraction, color: page.otherColor }]
                        }
                        Flow {
                            Layout.fillWidth: true
                            spacing: 14
                            Swatch { color: page.weightsColor; label: qsTr("Weights %1").arg(modelData.ourWeightsText) }
                            Swatch { color: page.kvColor; label: qsTr("KV cache %1").arg(modelData.ourKvCacheText) }
                            Swatch { color: page.scratchColor; label: qsTr("Scratch %1").arg(modelData.ourScratchText) }
                            Swatch { color: page.otherColor; label: qsTr("Other processes and runtime %1").arg(modelData.otherBytesText) }
                        }
                    }
                }
            }

            GroupBox {
                Layout.fillWidth: true
                Layout.leftMargin: 12
                Layout.rightMargin: 12
                id: hostBox
                title: qsTr("CPU and system memory")
                Accessible.name: title
                readonly property var host: page.dashboard ? page.dashboard.host : ({})
                ColumnLayout {
                    anchors.fill: parent
                    spacing: 6
                    Label {
                        text: qsTr("System %1 used of %2 · Nibble resident %3")
                              .arg(hostBox.host.usedBytesText || "—").arg(hostBox.host.totalBytesText || "—")
                              .arg(hostBox.host.rssBytesText || "—")
                        Accessible.name: text
                    }
                    MemoryBar {
                        Layout.fillWidth: true
                        trackColor: page.palette.base
                        edgeColor: page.palette.mid
                        readonly property var h: hostBox.host
                        summary: qsTr("System memory: weights %1, KV cache %2, scratch %3, used in all %4 of %5")
                                 .arg(h.ourWeightsText || "—").arg(h.ourKvCacheText || "—").arg(h.ourScratchText || "—")
                                 .arg(h.usedBytesText || "—").arg(h.totalBytesText || "—")
                        parts: [{ fraction: h.ourWeightsFraction || 0, color: page.weightsColor },
                                { fraction: h.ourKvCacheFraction || 0, color: page.kvColor },
                                { fraction: h.ourScratchFraction || 0, color: page.scratchColor },
                                { fraction: Math.max(0, (h.usedBytesFraction || 0) - (h.ourWeightsFraction || 0)
                                                     - (h.ourKvCacheFraction || 0) - (h.ourScratchFraction || 0)),
                                  color: page.otherColor }]
                    }
                    Flow {
                        Layout.fillWidth: true
                        spacing: 14
                        Swatch { color: page.weightsColor; label: qsTr("Weights %1").arg(hostBox.host.ourWeightsText || "—") }
                        Swatch { color: page.kvColor; label: qsTr("KV cache %1").arg(hostBox.host.ourKvCacheText || "—") }
                        Swatch { color: page.scratchColor; label: qsTr("Scratch %1").arg(hostBox.host.ourScratchText || "—") }
                        Swatch { color: page.otherColor; label: qsTr("Everything else") }
                    }
                }
            }

            GroupBox {
                Layout.fillWidth: true
                Layout.leftMargin: 12
                Layout.rightMargin: 12
                id: genBox
                title: qsTr("Generation")
                Accessible.name: title
                readonly property var last: page.dashboard ? page.dashboard.last : ({})
                GridLayout {
                    anchors.fill: parent
                    columns: 4
                    columnSpacing: 18
                    rowSpacing: 6
                    Label { text: qsTr("Prefill"); opacity: 0.8; Accessible.name: text }
                    Label { text: genBox.last.prefillText || "—"; font.bold: true; Accessible.name: qsTr("Prefill speed %1").arg(text) }
                    Label { text: qsTr("Decode"); opacity: 0.8; Accessible.name: text }
                    Label { text: genBox.last.decodeText || "—"; font.bold: true; Accessible.name: qsTr("Decode speed %1").arg(text) }
                    Label { text: qsTr("Time to first token"); opacity: 0.8; Accessible.name: text }
                    Label { text: genBox.last.ttftText || "—"; font.bold: true; Accessible.name: qsTr("Time to first token %1").arg(text) }
                    Label { text: qsTr("Reused prefix"); opacity: 0.8; Accessible.name: text }
                    Label {
                        text: genBox.last.reusedPrefixTokens !== undefined
                              ? qsTr("%1 of %2 prompt tokens").arg(Number(genBox.last.reusedPrefixTokens).toLocaleString(Qt.locale(), 'f', 0))
                                                               .arg(Number(genBox.last.promptTokens).toLocaleString(Qt.locale(), 'f', 0)) : "—"
                        font.bold: true
                        Accessible.name: qsTr("Reused prefix %1").arg(text)
                    }
                    Label { text: qsTr("KV cache now"); opacity: 0.8; Accessible.name: text }
                    RowLayout {
                        Layout.columnSpan: 3
                        ProgressBar {
                            Layout.preferredWidth: 200
                            from: 0
                            to: 1
                            value: page.dashboard ? page.dashboard.kvFill : 0
                            Accessible.name: qsTr("KV cache fill")
                        }
                        Label {
                            text: page.dashboard ? page.dashboard.kvText : ""
                            Accessible.name: qsTr("KV cache in use: %1").arg(text)
                        }
                        Label {
                            visible: page.dashboard && page.dashboard.generating
                            text: qsTr("· generating")
                            opacity: 0.8
                            Accessible.name: qsTr("A reply is being generated")
                        }
                    }
                }
            }

            GroupBox {
                id: serverBox
                Layout.fillWidth: true
                Layout.leftMargin: 12
                Layout.rightMargin: 12
                visible: page.server !== null && page.server.running
                title: qsTr("API server")
                Accessible.name: title
                GridLayout {
                    anchors.fill: parent
                    columns: 4
                    columnSpacing: 18
                    rowSpacing: 6
                    Label { text: qsTr("Requests"); opacity: 0.8; Accessible.name: text }
                    Label {
                        text: page.server ? qsTr("%1 running, %2 served").arg(page.server.activeRequests).arg(page.server.totalRequests) : ""
                        font.bold: true
                        Accessible.name: qsTr("API requests: %1").arg(text)
                    }
                    Label { text: qsTr("Decode"); opacity: 0.8; Accessible.name: text }
                    Label {
                        text: page.server ? qsTr("%1 tok/s").arg(Number(page.server.tokensPerSecond).toLocaleString(Qt.locale(), 'f', 0)) : ""
                        font.bold: true
                        Accessible.name: qsTr("API server decode speed %1").arg(text)
                    }
                    Label { text: qsTr("Tokens served"); opacity: 0.8; Accessible.name: text }
                    Label {
                        text: page.server ? Number(page.server.completionTokens).toLocaleString(Qt.locale(), 'f', 0) : ""
                        font.bold: true
                        Accessible.name: qsTr("Tokens generated for API clients: %1").arg(text)
                    }
                    Label { text: qsTr("Model copy"); opacity: 0.8; Accessible.name: text }
                    Label {
                        text: page.server ? qsTr("%1 MB").arg(Number(page.server.memoryBytes / 1e6).toLocaleString(Qt.locale(), 'f', 0)) : ""
                        font.bold: true
                        Accessible.name: qsTr("Memory of the API server's model copy: %1").arg(text)
                    }
                }
            }

            ChartView {
                id: chart
                Layout.fillWidth: true
                Layout.leftMargin: 6
                Layout.rightMargin: 6
                Layout.preferredHeight: 280
                title: qsTr("Tokens per second by generation (prefill and decode)")
                titleColor: palette.windowText
                backgroundColor: palette.base
                plotAreaColor: palette.base
                legend.labelColor: palette.windowText
                legend.alignment: Qt.AlignBottom
                antialiasing: true
                animationOptions: ChartView.NoAnimation
                Accessible.name: qsTr("Prefill and decode tokens per second chart")

                ValueAxis {
                    id: xAxis
                    min: 0
                    max: 10
                    tickCount: 6
                    labelFormat: "%d"
                    labelsColor: palette.windowText
                    gridLineColor: palette.mid
                }
                ValueAxis {
                    id: yAxis
                    min: 0
                    max: 10
                    labelFormat: "%.0f"
                    labelsColor: palette.windowText
                    gridLineColor: palette.mid
                }
                LineSeries {
                    id: prefillSeries
                    name: qsTr("Prefill")
                    axisX: xAxis
                    axisY: yAxis
                    color: page.kvColor
                    width: 2
                    pointsVisible: true
                }
                LineSeries {
                    id: decodeSeries
                    name: qsTr("Decode")
                    axisX: xAxis
                    axisY: yAxis
                    color: page.scratchColor
                    width: 2
                    pointsVisible: true
                }

                function refill() {
                    prefillSeries.clear()
                    decodeSeries.clear()
                    const gens = page.dashboard ? page.dashboard.generations : []
                    let first = gens.length > 0 ? gens[0].serial : 0
                    let lastSerial = first
                    for (let i = 0; i < gens.length; ++i) {
                        prefillSeries.append(gens[i].serial, gens[i].prefillTokensPerSecond)
                        decodeSeries.append(gens[i].serial, gens[i].decodeTokensPerSecond)
                        lastSerial = gens[i].serial
                    }
                    // Whole-number ticks: one per generation up to ten, else ten steps.
                    xAxis.min = Math.max(0, first - 1)
                    let span = Math.max(5, lastSerial + 1 - xAxis.min)
                    if (span > 10) span = Math.ceil(span / 10) * 10
                    xAxis.max = xAxis.min + span
                    xAxis.tickCount = Math.min(span, 10) + 1
                    yAxis.min = 0
                    yAxis.max = Math.max(10, (page.dashboard ? page.dashboard.maxTokensPerSecond : 0) * 1.1)
                    yAxis.applyNiceNumbers()
                }
                Connections {
                    target: page.dashboard
                    function onChanged() { chart.refill() }
                }
                Component.onCompleted: refill()
            }

            Item { implicitHeight: 8 }
        }
    }
}
