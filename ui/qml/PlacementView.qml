// The model card's placement plan: one stacked bar per device the model would use (weights, KV
// cache, scratch, reserve, what stays free) against that device's free memory, its layer range,
// and the verdict: "fits" with the context the plan gives, or the planner's advice.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Frame {
    id: view
    property var placement: null
    readonly property bool fits: placement ? placement.fits : false

    readonly property color weightsColor: palette.highlight
    readonly property color kvColor: "#2a9d8f"
    readonly property color scratchColor: "#e9a23b"
    // Mid-grey over the bar's base in light and dark palettes alike.
    readonly property color reserveColor: Qt.rgba(palette.windowText.r, palette.windowText.g, palette.windowText.b, 0.35)
    readonly property color frameColor: Qt.rgba(palette.windowText.r, palette.windowText.g, palette.windowText.b, 0.45)
    readonly property color badColor: "#d32f2f"

    component Swatch: RowLayout {
        property alias color: box.color
        property alias text: label.text
        spacing: 4
        Rectangle { id: box; implicitWidth: 10; implicitHeight: 10; radius: 2; border.color: view.frameColor }
        Label { id: label; font.pointSize: Qt.application.font.pointSize * 0.85; Accessible.name: text }
    }

    ColumnLayout {
        anchors.fill: parent
        spacing: 6

        RowLayout {
            Layout.fillWidth: true
            Label {
                text: qsTr("Placement")
                font.bold: true
                Accessible.name: text
            }
            Item { Layout.fillWidth: true }
            Swatch { color: view.weightsColor; text: qsTr("Weights") }
            Swatch { color: view.kvColor; text: qsTr("KV cache") }
            Swatch { color: view.scratchColor; text: qsTr("Scratch") }
            Swatch { color: view.reserveColor; text: qsTr("Reserve") }
            Swatch { color: palette.base; text: qsTr("Free") }
        }

        Repeater {
            model: view.placement
            delegate: ColumnLayout {
                id: row
                required property string device
                required property string name
                required property string layersText
                required property double weights
                required property double kvCache
                required property double scratch
                required property double reserve
                required property double unused
                required property double scale
                required property double needed
                required property double budget
                required property bool fits
                required property bool isGpu
                required property string weightsText
                required property string kvCacheText
                required property string scratchText
                required property string reserveText
                required property string freeText
                required property string neededText
                required property string budgetText
                Layout.fillWidth: true
                spacing: 2

                RowLayout {
                    Layout.fillWidth: true
                    Label {
                        text: row.isGpu ? qsTr("%1 · %2").arg(row.device).arg(row.name) : row.name
                        font.bold: true
                        elide: Text.ElideRight
                        Layout.maximumWidth: view.availableWidth * 0.45
                        Accessible.name: qsTr("Device %1").arg(text)
                    }
                    Label {
                        text: row.layersText
                        Layout.fillWidth: true
                        elide: Text.ElideRight
                        Accessible.name: qsTr("Holds %1").arg(text)
                    }
                    Label {
                        text: row.fits ? qsTr("%1 of %2 free").arg(row.neededText).arg(row.freeText)
                                       : qsTr("✗ %1, allowed %2").arg(row.neededText).arg(row.budgetText)
                        color: row.fits ? palette.windowText : view.badColor
                        font.bold: !row.fits
                        Accessible.name: row.fits ? qsTr("Needs %1 of %2 free").arg(row.neededText).arg(row.freeText)
                                                  : qsTr("Does not fit: needs %1, allowed %2").arg(row.neededText).arg(row.budgetText)
                    }
                }

                Rectangle {
                    id: bar
                    Layout.fillWidth: true
                    implicitHeight: Math.round(Qt.application.font.pixelSize * 1.3)
                    color: palette.base
                    border.color: row.fits ? view.frameColor : view.badColor
                    border.width: row.fits ? 1 : 2
                    radius: 3
                    clip: true
                    Accessible.role: Accessible.Chart
                    Accessible.name: qsTr("%1: weights %2, KV cache %3, scratch %4, reserve %5, %6 free")
                                     .arg(row.device).arg(row.weightsText).arg(row.kvCacheText)
                                     .arg(row.scratchText).arg(row.reserveText).arg(row.freeText)
                    readonly property double unit: row.scale > 0 ? (width - 2 * border.width) / row.scale : 0
                    // Pixels for `bytes`; a part that is there stays visible (2 px) however small.
                    function span(bytes) { return bytes > 0 ? Math.max(2, Math.round(bytes * unit)) : 0 }
                    Row {
                        x: bar.border.width
                        y: bar.border.width
                        height: bar.height - 2 * bar.border.width
                        Rectangle { height: parent.height; width: bar.span(row.weights); color: view.weightsColor }
                        Rectangle { height: parent.height; width: bar.span(row.kvCache); color: view.kvColor }
                        Rectangle { height: parent.height; width: bar.span(row.scratch); color: view.scratchColor }
                        Rectangle { height: parent.height; width: bar.span(row.reserve); color: view.reserveColor }
                    }
                }

                Label {
                    Layout.fillWidth: true
                    wrapMode: Text.Wrap
                    opacity: 0.75
                    font.pointSize: Qt.application.font.pointSize * 0.85
                    text: row.isGpu
                          ? qsTr("Weights %1 · KV cache %2 · scratch %3 (with the CUDA runtime) · reserve %4")
                            .arg(row.weightsText).arg(row.kvCacheText).arg(row.scratchText).arg(row.reserveText)
                          : qsTr("Weights %1 · KV cache %2 · scratch %3")
                            .arg(row.weightsText).arg(row.kvCacheText).arg(row.scratchText)
                    Accessible.name: text
                }
            }
        }

        Label {
            Layout.fillWidth: true
            visible: view.placement && view.placement.error !== ""
            wrapMode: Text.Wrap
            color: view.badColor
            text: view.placement ? qsTr("No plan: %1").arg(view.placement.error) : ""
            Accessible.name: text
        }

        Label {
            objectName: "placementVerdict"
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            font.bold: true
            color: view.fits ? palette.windowText : view.badColor
            text: !view.placement || !view.placement.ready ? ""
                  : view.fits ? qsTr("✓ Fits, with a context of %1 tokens.").arg(view.placement.resultContext)
                              : qsTr("✗ Does not fit. Load stays off until the plan fits:")
            Accessible.name: text
        }

        Repeater {
            model: view.placement ? view.placement.advice : []
            delegate: Label {
                required property string modelData
                Layout.fillWidth: true
                wrapMode: Text.Wrap
                text: "• " + modelData
                Accessible.name: qsTr("Advice: %1").arg(modelData)
            }
        }
    }
}
