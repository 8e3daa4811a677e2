// The quantization wizard: six steps over `wizard` (QuantizeWizard view model): source, target,
// calibration, output, run, result. A dialog over the main window; it is shown while
// wizard.active is true. Closing it during a job leaves the job running; closing the app leaves
// a resumable job that step 1 offers next time.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import Nibble.Bridge

Dialog {
    id: dialog
    objectName: "quantizeWizard"
    property var wizard: null
    property var engine: null

    readonly property int step: wizard ? wizard.step : 0
    readonly property var stepTitles: [qsTr("Source"), qsTr("Target"), qsTr("Calibration"), qsTr("Output"), qsTr("Run"), qsTr("Result")]

    title: qsTr("Quantize a model — %1 of 6: %2").arg(step + 1).arg(stepTitles[step])
    modal: true
    visible: wizard ? wizard.active : false
    onClosed: if (wizard) wizard.active = false
    closePolicy: Popup.CloseOnEscape
    padding: 16
    width: Math.min(Overlay.overlay ? Overlay.overlay.width - 32 : 10000, fm.averageCharacterWidth * 110 + leftPadding + rightPadding)
    height: Math.min(Overlay.overlay ? Overlay.overlay.height - 32 : 10000, fm.height * 36)
    anchors.centerIn: Overlay.overlay

    header: ColumnLayout {
        spacing: 6
        Label {
            Layout.fillWidth: true
            Layout.topMargin: 12
            Layout.leftMargin: 16
            text: dialog.title
            font.bold: true
            font.pointSize: Qt.application.font.pointSize * 1.2
            Accessible.name: text
        }
        RowLayout {
            Layout.leftMargin: 16
            Layout.rightMargin: 16
            spacing: 4
            Repeater {
                model: dialog.stepTitles
                delegate: Label {
                    required property int index
                    required property string modelData
                    text: (index + 1) + " " + modelData
                    font.bold: index === dialog.step
                    opacity: index === dialog.step ? 1.0 : (index < dialog.step ? 0.75 : 0.45)
                    rightPadding: 10
                    Accessible.name: qsTr("Step %1: %2%3").arg(index + 1).arg(modelData).arg(index === dialog.step ? qsTr(" (current)") : "")
                }
            }
        }
        MenuSeparator { Layout.fillWidth: true }
    }

    footer: DialogButtonBox {
        Button {
            text: qsTr("Back")
            enabled: dialog.wizard && dialog.step > 0 && dialog.step !== 5 && !dialog.wizard.running
            visible: dialog.step < 5
            DialogButtonBox.buttonRole: DialogButtonBox.ActionRole
            Accessible.name: qsTr("Back to the previous step")
            onClicked: dialog.wizard.back()
        }
        Button {
            text: dialog.step === 3 ? (dialog.wizard && dialog.wizard.outputResumable ? qsTr("Resume") : qsTr("Quantize"))
                                    : qsTr("Next")
            visible: dialog.step < 4
            highlighted: true
            enabled: dialog.wizard ? dialog.wizard.canGoNext : false
            DialogButtonBox.buttonRole: DialogButtonBox.ActionRole
            Accessible.name: dialog.step === 3 ? qsTr("Start quantizing") : qsTr("Next step")
            onClicked: dialog.wizard.next()
        }
        Button {
            text: dialog.wizard && dialog.wizard.running ? qsTr("Hide") : qsTr("Close")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
            Accessible.name: dialog.wizard && dialog.wizard.running ? qsTr("Hide the wizard; the job goes on") : qsTr("Close the wizard")
        }
    }

    StackLayout {
        anchors.fill: parent
        currentIndex: dialog.step

        QuantSourceStep { wizard: dialog.wizard }
        QuantTargetStep { wizard: dialog.wizard }
        QuantCalibrationStep { wizard: dialog.wizard }
        QuantOutputStep { wizard: dialog.wizard }
        QuantRunStep { wizard: dialog.wizard }
        QuantResultStep { wizard: dialog.wizard }
    }
    FontMetrics { id: fm }
}
